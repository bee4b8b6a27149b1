import skia

# Clipping to a rectangle, a rounded rectangle and a path; drawing outside the clip is discarded.


def stripes(canvas, paint):
    for i in range(0, 512, 16):
        canvas.drawLine(i, 0, i - 256, 256, paint)


def draw(canvas):
    paint = skia.Paint(AntiAlias=True, StrokeWidth=6, Color=skia.Color(94, 53, 177))

    with skia.AutoCanvasRestore(canvas):
        canvas.clipRect(skia.Rect.MakeXYWH(12, 12, 110, 110))
        stripes(canvas, paint)

    with skia.AutoCanvasRestore(canvas):
        canvas.clipRRect(skia.RRect.MakeRectXY(skia.Rect.MakeXYWH(134, 12, 110, 110), 30, 30),
                         doAntiAlias=True)
        paint.setColor(skia.Color(0, 137, 123))
        stripes(canvas, paint)

    heart = skia.Path()
    heart.moveTo(128, 240)
    heart.cubicTo(20, 170, 60, 110, 128, 160)
    heart.cubicTo(196, 110, 236, 170, 128, 240)
    with skia.AutoCanvasRestore(canvas):
        canvas.clipPath(heart, doAntiAlias=True)
        paint.setColor(skia.Color(216, 27, 96))
        stripes(canvas, paint)
