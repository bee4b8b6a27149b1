import math

import skia

# An animation: `frame` goes from 0 to 1 over `duration` seconds; draw() is called once per frame.
# (This service shows the first frame until animations are rendered.)


def draw(canvas):
    t = frame  # a fiddle global: progress from 0 to 1
    cx, cy = 128, 128
    paint = skia.Paint(AntiAlias=True)
    for i in range(8):
        angle = 2 * math.pi * (i / 8 + t)
        x = cx + 80 * math.cos(angle)
        y = cy + 80 * math.sin(angle)
        paint.setColor(skia.Color4f(i / 8, 0.4, 1 - i / 8, 1).toColor())
        canvas.drawCircle(x, y, 10 + 8 * abs(math.sin(math.pi * (t + i / 8))), paint)
    label = f"{t * duration:.2f} s of {duration:g} s"
    font = skia.Font(None, 14)
    width = font.measureText(label)
    canvas.drawString(label, cx - width / 2, cy + 5, font, skia.Paint(AntiAlias=True))
