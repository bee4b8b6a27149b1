import skia

# Transforms: translate, rotate, scale and skew, each applied to the same arrow.


def arrow():
    path = skia.Path()
    path.moveTo(0, -6)
    path.lineTo(30, -6)
    path.lineTo(30, -16)
    path.lineTo(50, 0)
    path.lineTo(30, 16)
    path.lineTo(30, 6)
    path.lineTo(0, 6)
    path.close()
    return path


def draw(canvas):
    shape = arrow()
    paint = skia.Paint(AntiAlias=True)
    colors = [skia.Color(229, 57, 53), skia.Color(30, 136, 229), skia.Color(67, 160, 71),
              skia.Color(251, 140, 0)]

    canvas.save()
    canvas.translate(128, 128)
    canvas.scale(1.5, 1.5)
    for i in range(12):
        paint.setColor(colors[i % 4])
        canvas.drawPath(shape, paint)
        canvas.rotate(30)
    canvas.restore()

    with skia.AutoCanvasRestore(canvas):
        canvas.translate(24, 40)
        canvas.scale(1.5, 0.75)
        paint.setColor(skia.ColorDKGRAY)
        canvas.drawPath(shape, paint)

    with skia.AutoCanvasRestore(canvas):
        canvas.translate(160, 220)
        canvas.skew(-0.6, 0)
        canvas.drawPath(shape, paint)
