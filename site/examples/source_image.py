import skia

# Draws the source image (the global `image`, a skia.Image) scaled to fit, with a rounded clip.
# Pick a source image in the options; without one, a placeholder is drawn instead.


def placeholder(width, height):
    surface = skia.Surface(width, height)
    with surface as c:
        c.clear(skia.Color(236, 239, 241))
        grid = skia.Paint(Color=skia.Color(207, 216, 220))
        for i in range(0, max(width, height), 16):
            c.drawLine(i, 0, i, height, grid)
            c.drawLine(0, i, width, i, grid)
        text = skia.Paint(AntiAlias=True, Color=skia.Color(84, 110, 122))
        c.drawString("no source image", 20, height / 2, skia.Font(None, 18), text)
    return surface.makeImageSnapshot()


def draw(canvas):
    picture = image if image is not None else placeholder(192, 192)
    bounds = skia.Rect.MakeXYWH(32, 32, 192, 192)
    with skia.AutoCanvasRestore(canvas):
        canvas.clipRRect(skia.RRect.MakeRectXY(bounds, 24, 24), doAntiAlias=True)
        canvas.drawImageRect(picture, bounds, skia.SamplingOptions(skia.FilterMode.kLinear))
    print(f"source image: {picture.width()} x {picture.height()}")
