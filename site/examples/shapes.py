import skia

# Rectangles, rounded rectangles, circles and ovals, filled and outlined.


def draw(canvas):
    fill = skia.Paint(AntiAlias=True, Color=skia.Color(66, 133, 244))
    canvas.drawRect(skia.Rect.MakeXYWH(16, 16, 96, 64), fill)

    fill.setColor(skia.Color(234, 67, 53))
    canvas.drawRoundRect(skia.Rect.MakeXYWH(144, 16, 96, 64), 16, 16, fill)

    fill.setColor(skia.Color(251, 188, 5))
    canvas.drawCircle(64, 160, 44, fill)

    fill.setColor(skia.Color(52, 168, 83))
    canvas.drawOval(skia.Rect.MakeXYWH(144, 120, 96, 80), fill)

    outline = skia.Paint(AntiAlias=True, Style=skia.Paint.kStroke_Style, StrokeWidth=3,
                         Color=skia.ColorBLACK)
    canvas.drawRRect(skia.RRect.MakeRectXY(skia.Rect.MakeXYWH(16, 216, 224, 28), 14, 14), outline)
