import skia

# Shaders: Perlin noise, a tiled picture shader, and two shaders blended together.


def checker(size):
    recorder = skia.PictureRecorder()
    tile = recorder.beginRecording(skia.Rect(0, 0, size * 2, size * 2))
    paint = skia.Paint(Color=skia.Color(38, 50, 56))
    tile.drawRect(skia.Rect(0, 0, size, size), paint)
    tile.drawRect(skia.Rect(size, size, size * 2, size * 2), paint)
    return recorder.finishRecordingAsPicture()


def draw(canvas):
    paint = skia.Paint(AntiAlias=True)

    paint.setShader(skia.PerlinNoiseShader.MakeFractalNoise(0.05, 0.05, 4, 0))
    canvas.drawRect(skia.Rect.MakeXYWH(8, 8, 116, 116), paint)

    tiles = checker(8).makeShader(skia.TileMode.kRepeat, skia.TileMode.kRepeat,
                                  skia.FilterMode.kNearest)
    paint.setShader(tiles)
    canvas.drawRoundRect(skia.Rect.MakeXYWH(132, 8, 116, 116), 20, 20, paint)

    gradient = skia.GradientShader.MakeLinear(
        [(8, 132), (248, 248)], [skia.Color(255, 64, 129), skia.Color(0, 188, 212)])
    noise = skia.PerlinNoiseShader.MakeTurbulence(0.04, 0.04, 2, 1)
    paint.setShader(skia.Shaders.Blend(skia.BlendMode.kMultiply, gradient, noise))
    canvas.drawRect(skia.Rect.MakeXYWH(8, 132, 240, 116), paint)
