import skia

# A text-only fiddle: no image, just what it prints. Handy for exploring the API.


def draw(canvas):
    print("skia-python", skia.__version__)
    path = skia.Path()
    path.addCircle(50, 50, 40)
    print("circle bounds:", path.getBounds())
    matrix = skia.Matrix.RotateDeg(90)
    print("(1, 0) rotated 90 degrees:", matrix.mapXY(1, 0))
    print("red as ARGB:", hex(skia.ColorRED))
