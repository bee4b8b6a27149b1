import skia

# Stroke caps (butt, round, square) and joins (miter, round, bevel), with a dashed line.


def draw(canvas):
    paint = skia.Paint(AntiAlias=True, Style=skia.Paint.kStroke_Style, StrokeWidth=18,
                       Color=skia.Color(25, 118, 210))
    guide = skia.Paint(AntiAlias=True, Color=skia.ColorRED, StrokeWidth=1)

    caps = [skia.Paint.kButt_Cap, skia.Paint.kRound_Cap, skia.Paint.kSquare_Cap]
    for i, cap in enumerate(caps):
        y = 30 + i * 34
        paint.setStrokeCap(cap)
        canvas.drawLine(40, y, 216, y, paint)
        canvas.drawLine(40, y, 216, y, guide)

    joins = [skia.Paint.kMiter_Join, skia.Paint.kRound_Join, skia.Paint.kBevel_Join]
    paint.setStrokeCap(skia.Paint.kButt_Cap)
    paint.setColor(skia.Color(56, 142, 60))
    for i, join in enumerate(joins):
        x = 24 + i * 80
        path = skia.Path()
        path.moveTo(x, 200)
        path.lineTo(x + 30, 140)
        path.lineTo(x + 60, 200)
        paint.setStrokeJoin(join)
        canvas.drawPath(path, paint)

    dashed = skia.Paint(AntiAlias=True, Style=skia.Paint.kStroke_Style, StrokeWidth=4,
                        Color=skia.ColorDKGRAY,
                        PathEffect=skia.DashPathEffect.Make([12, 6], 0))
    canvas.drawLine(16, 236, 240, 236, dashed)
