import skia

# Linear, radial and sweep gradients.


def draw(canvas):
    colors = [skia.Color(66, 133, 244), skia.Color(234, 67, 53), skia.Color(251, 188, 5)]
    paint = skia.Paint(AntiAlias=True)

    paint.setShader(skia.GradientShader.MakeLinear([(16, 16), (240, 16)], colors))
    canvas.drawRect(skia.Rect.MakeXYWH(16, 16, 224, 64), paint)

    paint.setShader(skia.GradientShader.MakeRadial((72, 168), 56, colors))
    canvas.drawCircle(72, 168, 56, paint)

    paint.setShader(skia.GradientShader.MakeSweep(184, 168, [*colors, colors[0]]))
    canvas.drawCircle(184, 168, 56, paint)
