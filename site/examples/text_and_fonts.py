import skia

# Text with the default typeface at several sizes, bold and italic styles, and measuring text.


def draw(canvas):
    paint = skia.Paint(AntiAlias=True, Color=skia.ColorBLACK)
    font = skia.Font(skia.Typeface("DejaVu Sans"), 28)
    canvas.drawString("Hello, Skia!", 16, 44, font, paint)

    bold = skia.Font(skia.Typeface("DejaVu Sans", skia.FontStyle.Bold()), 22)
    paint.setColor(skia.Color(21, 101, 192))
    canvas.drawString("Bold text", 16, 84, bold, paint)

    italic = skia.Font(skia.Typeface("DejaVu Sans", skia.FontStyle.Italic()), 22)
    paint.setColor(skia.Color(173, 20, 87))
    canvas.drawString("Italic text", 16, 118, italic, paint)

    # Measure a string and draw its bounds.
    small = skia.Font(skia.Typeface("DejaVu Sans Mono"), 16)
    text = "measured: width"
    width = small.measureText(text)
    paint.setColor(skia.ColorDKGRAY)
    canvas.drawString(text, 16, 170, small, paint)
    box = skia.Paint(AntiAlias=True, Style=skia.Paint.kStroke_Style, Color=skia.ColorRED)
    canvas.drawRect(skia.Rect.MakeXYWH(16, 156, width, 18), box)
    print(f"'{text}' is {width:.1f} px wide at 16 px")

    blob = skia.TextBlob.MakeFromString("TextBlob", skia.Font(None, 36))
    paint.setColor(skia.Color(0, 150, 136))
    canvas.drawTextBlob(blob, 16, 230, paint)
