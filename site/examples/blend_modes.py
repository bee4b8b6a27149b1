import skia

# Blend modes: the same two shapes composited with nine modes.

MODES = [
    skia.BlendMode.kSrcOver, skia.BlendMode.kMultiply, skia.BlendMode.kScreen,
    skia.BlendMode.kOverlay, skia.BlendMode.kDarken, skia.BlendMode.kLighten,
    skia.BlendMode.kDifference, skia.BlendMode.kXor, skia.BlendMode.kDstOut,
]


def draw(canvas):
    font = skia.Font(None, 11)
    label = skia.Paint(AntiAlias=True, Color=skia.ColorBLACK)
    for i, mode in enumerate(MODES):
        x, y = 8 + (i % 3) * 84, 6 + (i // 3) * 83
        # Each cell gets its own layer so the mode blends only with this cell's square.
        canvas.saveLayer(skia.Rect.MakeXYWH(x, y, 80, 64), None)
        canvas.drawRect(skia.Rect.MakeXYWH(x + 8, y + 2, 40, 40),
                        skia.Paint(Color=skia.Color(33, 150, 243)))
        canvas.drawCircle(x + 48, y + 40, 22,
                          skia.Paint(AntiAlias=True, Color=skia.Color(255, 87, 34),
                                     BlendMode=mode))
        canvas.restore()
        canvas.drawString(str(mode).split(".")[-1].lstrip("k"), x + 8, y + 76, font, label)
