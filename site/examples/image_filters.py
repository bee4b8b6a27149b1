import skia

# Image filters: blur, drop shadow, and a color matrix that turns a drawing grey.


def draw(canvas):
    font = skia.Font(skia.Typeface("DejaVu Sans", skia.FontStyle.Bold()), 40)
    paint = skia.Paint(AntiAlias=True, Color=skia.Color(230, 81, 0))

    paint.setImageFilter(skia.ImageFilters.Blur(4, 4))
    canvas.drawString("Blur", 16, 56, font, paint)

    paint.setImageFilter(skia.ImageFilters.DropShadow(4, 6, 3, 3, skia.Color(0, 0, 0, 160)))
    paint.setColor(skia.Color(30, 136, 229))
    canvas.drawString("Shadow", 16, 120, font, paint)

    grey = skia.ColorFilters.Matrix([
        0.21, 0.72, 0.07, 0, 0,
        0.21, 0.72, 0.07, 0, 0,
        0.21, 0.72, 0.07, 0, 0,
        0, 0, 0, 1, 0,
    ])
    paint.setImageFilter(skia.ImageFilters.ColorFilter(grey))
    paint.setColor(skia.Color(67, 160, 71))
    canvas.drawCircle(64, 192, 44, paint)
    paint.setImageFilter(None)
    canvas.drawCircle(176, 192, 44, paint)
