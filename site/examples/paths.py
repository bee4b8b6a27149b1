import math

import skia

# A star and a curvy path built with skia.Path: lines, quadratic and cubic curves, fill types.


def star(cx, cy, outer, inner, points=5):
    path = skia.Path()
    for i in range(points * 2):
        radius = outer if i % 2 == 0 else inner
        angle = math.pi * i / points - math.pi / 2
        x, y = cx + radius * math.cos(angle), cy + radius * math.sin(angle)
        if i == 0:
            path.moveTo(x, y)
        else:
            path.lineTo(x, y)
    path.close()
    return path


def draw(canvas):
    paint = skia.Paint(AntiAlias=True, Color=skia.Color(142, 36, 170))
    canvas.drawPath(star(70, 74, 56, 24), paint)

    wave = skia.Path()
    wave.moveTo(140, 110)
    wave.quadTo(170, 20, 200, 110)
    wave.cubicTo(215, 150, 245, 60, 245, 20)
    paint.setStyle(skia.Paint.kStroke_Style)
    paint.setStrokeWidth(4)
    paint.setColor(skia.Color(0, 137, 123))
    canvas.drawPath(wave, paint)

    # Two overlapping circles: even-odd filling leaves the overlap empty.
    rings = skia.Path()
    rings.addCircle(100, 190, 48)
    rings.addCircle(156, 190, 48)
    rings.setFillType(skia.PathFillType.kEvenOdd)
    fill = skia.Paint(AntiAlias=True, Color=skia.Color(255, 112, 67))
    canvas.drawPath(rings, fill)
