"""Drawing snippets from skia-python's own documentation, notebooks and tests, as fiddles.

Each is a short snippet of the public repository kyamagu/skia-python (its source file and section
are noted beside it), wrapped as `def draw(canvas):` with the least change: a desktop program's
`with surface as canvas:` becomes the fiddle's canvas; a file the snippet opens (the repository's
color_wheel.png, mandrill or rainbow images) becomes the fiddle's source image (`image`, a
built-in one, chosen by the `source` option); a file it writes becomes an in-memory stream; and
what a notebook displays is printed or drawn. tests/test_skia_python_corpus.py runs each through
the service and directly, and compares what they give.

`since` is the first Skia milestone whose skia-python has every API the snippet calls (None: all
the builds this service offers); the corpus test skips a snippet on older builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from textwrap import dedent

DOCS = "docs/tutorial"
NOTEBOOKS = "notebooks"
TESTS = "tests"


@dataclass(frozen=True)
class Snippet:
    name: str
    source: str  # where in kyamagu/skia-python it comes from
    code: str
    width: int = 256
    height: int = 256
    image: int = 0  # the built-in source image standing in for the file it opens
    since: int | None = None  # the first milestone with every API it calls
    reads_back: bool = False  # reads pixels back: works on the raster canvas only
    pillow: bool = False

    @property
    def program(self) -> str:
        return dedent(self.code).lstrip("\n")

    @property
    def options(self) -> dict[str, int]:
        return {"width": self.width, "height": self.height, "source": self.image}


# The built-in source images (functions/builtin_sources.py) the snippets' files become.
COLOR_WHEEL = 5  # Skia's resources/images/color_wheel.png: 128x128
LAKE = 3  # for mandrill_512_q075.jpg: 512x512
BALL = 4  # for rainbow-gradient.png

# The star of paint.rst's path effects (indented as the snippets are, which it precedes).
STAR = """
        def star():
            from math import cos, sin
            R, C = 115.2, 128.0
            path = skia.Path()
            path.moveTo(C + R, C)
            for i in range(1, 7):
                a = 2.6927937 * i
                path.lineTo(C + R * cos(a), C + R * sin(a))
            path.close()
            return path
"""

OVERVIEW = [
    Snippet("overview_blue_rect", f"{DOCS}/overview.rst: Overview", """
        def draw(canvas):
            rect = skia.Rect(32, 32, 96, 96)
            paint = skia.Paint(
                Color=skia.ColorBLUE,
                Style=skia.Paint.kFill_Style)
            canvas.drawRect(rect, paint)
        """, 128, 128),
    Snippet("overview_rotated_rect", f"{DOCS}/overview.rst: Canvas details", """
        def draw(canvas):
            canvas.save()
            canvas.translate(128., 128.)
            canvas.rotate(45.)
            rect = skia.Rect(-90.5, -90.5, 90.5, 90.5)
            paint = skia.Paint(Color=skia.Color(0, 0, 255))
            canvas.drawRect(rect, paint)
            canvas.restore()
        """),
    Snippet("overview_more_drawings", f"{DOCS}/overview.rst: More drawings", """
        def draw(canvas):
            rect = skia.Rect(50, 50, 90, 110)
            paint = skia.Paint(
                AntiAlias=True,
                Style=skia.Paint.kStroke_Style,
                StrokeWidth=4,
                Color=skia.ColorRED,
            )
            canvas.drawColor(skia.ColorWHITE)
            canvas.drawRect(rect, paint)
            oval = skia.RRect.MakeOval(rect)
            oval.offset(40, 60)
            paint.setColor(skia.ColorBLUE)
            canvas.drawRRect(oval, paint)
            paint.setColor(skia.ColorCYAN)
            canvas.drawCircle(180, 50, 25, paint)
            rect.offset(80, 0)
            paint.setColor(skia.ColorYELLOW)
            canvas.drawRoundRect(rect, 10, 10, paint)
            path = skia.Path()
            path.cubicTo(768, 0, -512, 256, 256, 256)
            paint.setColor(skia.ColorGREEN)
            canvas.drawPath(path, paint)
            canvas.drawImage(image, 128, 128, skia.SamplingOptions(), paint)
            rect2 = skia.Rect(40, 60)
            canvas.drawImageRect(image, rect2, skia.SamplingOptions(), paint)
            paint2 = skia.Paint()
            text = skia.TextBlob('Hello, Skia!', skia.Font(None, 18))
            canvas.drawTextBlob(text, 50, 25, paint2)
        """, image=COLOR_WHEEL, since=116),  # drawImage takes SamplingOptions since m116
    Snippet("overview_draw_into_numpy", f"{DOCS}/overview.rst: Python interoperability", """
        import numpy as np

        def draw(canvas):
            array = np.zeros((320, 240, 4), np.uint8)
            into = skia.Canvas(array)
            paint = skia.Paint(AntiAlias=True, Color=skia.ColorCYAN)
            into.drawCircle(180, 50, 25, paint)
            canvas.drawImage(skia.Image.fromarray(array), 0, 0)
        """, 240, 320),
    Snippet("overview_canvas_toarray", f"{DOCS}/overview.rst: Python interoperability", """
        def draw(canvas):
            paint = skia.Paint(AntiAlias=True, Color=skia.ColorCYAN)
            canvas.drawCircle(180, 50, 25, paint)
            array = canvas.toarray()
            print(array.shape, array.dtype, int(array[50, 180, 1]))
        """, reads_back=True),
]

CANVAS = [
    Snippet("canvas_raster", f"{DOCS}/canvas.rst: Raster", """
        def draw(canvas):
            canvas.drawCircle(100, 100, 40, skia.Paint(Color=skia.ColorGREEN))
        """, 200, 200),
    Snippet("canvas_raster_numpy_surface", f"{DOCS}/canvas.rst: Raster (numpy)", """
        import numpy as np

        def draw(canvas):
            width, height = 200, 200
            array = np.zeros((height, width, 4), dtype=np.uint8)
            with skia.Surface(array) as into:
                into.drawCircle(100, 100, 40, skia.Paint(Color=skia.ColorGREEN))
            canvas.drawImage(skia.Image.fromarray(array), 0, 0)
        """, 200, 200),
    Snippet("canvas_pdf_document", f"{DOCS}/canvas.rst: PDF", """
        def draw(canvas):
            width, height = 200, 200
            stream = skia.DynamicMemoryWStream()
            with skia.PDF.MakeDocument(stream) as document:
                with document.page(width, height) as page:
                    page.drawCircle(100, 100, 40, skia.Paint(Color=skia.ColorGREEN))
            print(bytes(stream.detachAsData())[:8])
            canvas.drawCircle(100, 100, 40, skia.Paint(Color=skia.ColorGREEN))
        """, 200, 200),
    Snippet("canvas_picture", f"{DOCS}/canvas.rst: Picture", """
        def draw(canvas):
            width, height = 200, 200
            recorder = skia.PictureRecorder()
            recording = recorder.beginRecording(width, height)
            recording.drawCircle(100, 100, 40, skia.Paint(Color=skia.ColorGREEN))
            picture = recorder.finishRecordingAsPicture()
            data = picture.serialize()
            print(bytes(data)[:8])
            picture.playback(canvas)
        """, 200, 200),
    Snippet("canvas_svg", f"{DOCS}/canvas.rst: SVG", """
        def draw(canvas):
            width, height = 200, 200
            stream = skia.DynamicMemoryWStream()
            svg = skia.SVGCanvas.Make((width, height), stream)
            svg.drawCircle(100, 100, 40, skia.Paint(Color=skia.ColorGREEN))
            del svg
            stream.flush()
            print(bytes(stream.detachAsData()).decode())
            canvas.drawCircle(100, 100, 40, skia.Paint(Color=skia.ColorGREEN))
        """, 200, 200),
]

PAINT = [
    Snippet("paint_three_paints", f"{DOCS}/paint.rst: Paint Overview", """
        def draw(canvas):
            paint1 = skia.Paint(
                AntiAlias=True,
                Color=skia.Color(255, 0, 0),
                Style=skia.Paint.kFill_Style)
            paint2 = skia.Paint(
                AntiAlias=True,
                Color=skia.Color(0, 136, 0),
                Style=skia.Paint.kStroke_Style,
                StrokeWidth=3)
            paint3 = skia.Paint(
                AntiAlias=True,
                Color=skia.Color(136, 136, 136))
            blob1 = skia.TextBlob("Skia!", skia.Font(None, 64.0, 1.0, 0.0))
            blob2 = skia.TextBlob("Skia!", skia.Font(None, 64.0, 1.5, 0.0))
            canvas.clear(skia.ColorWHITE)
            canvas.drawTextBlob(blob1, 20.0, 64.0, paint1)
            canvas.drawTextBlob(blob1, 20.0, 144.0, paint2)
            canvas.drawTextBlob(blob2, 20.0, 224.0, paint3)
        """),
    Snippet("paint_fill_and_stroke", f"{DOCS}/paint.rst: Paint Overview", """
        def draw(canvas):
            fillPaint = skia.Paint()
            strokePaint = skia.Paint(
                Style=skia.Paint.kStroke_Style,
                StrokeWidth=3.0
            )
            canvas.drawRect(skia.Rect.MakeXYWH(10, 10, 60, 20), fillPaint)
            canvas.drawRect(skia.Rect.MakeXYWH(80, 10, 60, 20), strokePaint)
            strokePaint.setStrokeWidth(5.0)
            canvas.drawOval(skia.Rect.MakeXYWH(150, 10, 60, 20), strokePaint)
            blob = skia.TextBlob("SKIA", skia.Font(None, 80))
            fillPaint.setColor(skia.ColorSetARGB(0xFF, 0xFF, 0x00, 0x00))
            canvas.drawTextBlob(blob, 20, 120, fillPaint)
            fillPaint.setColor(skia.ColorSetARGB(0xFF, 0x00, 0x00, 0xFF))
            canvas.drawTextBlob(blob, 20, 220, fillPaint)
        """),
    Snippet("paint_linear_gradient", f"{DOCS}/paint.rst: Paint Overview", """
        def draw(canvas):
            paint = skia.Paint(
                Shader=skia.GradientShader.MakeLinear(
                    points=[(0.0, 0.0), (256.0, 256.0)],
                    colors=[0xFF0000FF, 0xFFFFFF00]))
            canvas.drawPaint(paint)
        """),
    Snippet("paint_xfermodes", f"{DOCS}/paint.rst: Xfermode", """
        def draw_utf8_string(canvas, text, x, y, font, paint):
            canvas.drawTextBlob(skia.TextBlob(text, font), x, y, paint)

        def draw(canvas):
            modes = [getattr(skia.BlendMode, name) for name in (
                "kClear", "kSrc", "kDst", "kSrcOver", "kDstOver", "kSrcIn", "kDstIn", "kSrcOut",
                "kDstOut", "kSrcATop", "kDstATop", "kXor", "kPlus", "kModulate", "kScreen",
                "kOverlay", "kDarken", "kLighten", "kColorDodge", "kColorBurn", "kHardLight",
                "kSoftLight", "kDifference", "kExclusion", "kMultiply", "kHue", "kSaturation",
                "kColor", "kLuminosity")]
            rect = skia.Rect(64.0, 64.0)
            font = skia.Font(None, 24)
            stroke = skia.Paint(Style=skia.Paint.kStroke_Style)
            src = skia.Paint(
                Shader=skia.GradientShader.MakeLinear(
                    [(0.0, 0.0), (64.0, 0.0)],
                    [skia.ColorMAGENTA & 0x00FFFFFF, skia.ColorMAGENTA]))
            dst = skia.Paint(
                Shader=skia.GradientShader.MakeLinear(
                    [(0.0, 0.0), (0.0, 64.0)],
                    [skia.ColorCYAN & 0x00FFFFFF, skia.ColorCYAN]))
            canvas.clear(skia.ColorWHITE)
            N = len(modes)
            K = (N - 1) // 3 + 1
            assert K * 64 >= 640, "Not tall enough"
            for i in range(N):
                with skia.AutoCanvasRestore(canvas):
                    canvas.translate(192.0 * (i // K), 64.0 * (i % K))
                    desc = skia.BlendMode_Name(modes[i])
                    draw_utf8_string(canvas, desc, 68.0, 30.0, font, skia.Paint())
                    canvas.clipRect(skia.Rect(64.0, 64.0))
                    canvas.drawColor(skia.ColorLTGRAY)
                    canvas.saveLayer()
                    canvas.clear(skia.ColorTRANSPARENT)
                    canvas.drawPaint(dst)
                    src.setBlendMode(modes[i])
                    canvas.drawPaint(src)
                    canvas.drawRect(rect, stroke)
        """, 576, 640),
    Snippet("paint_bitmap_shader", f"{DOCS}/paint.rst: Bitmap Shader", """
        def draw(canvas):
            canvas.clear(skia.ColorWHITE)
            matrix = skia.Matrix()
            matrix.setScale(0.75, 0.75)
            matrix.preRotate(30.0)
            canvas.drawPaint({
                'Shader': image.makeShader(
                    skia.TileMode.kRepeat,
                    skia.TileMode.kRepeat,
                    skia.SamplingOptions(),
                    matrix
                )
            })
        """, image=COLOR_WHEEL, since=116),  # makeShader takes SamplingOptions since m116
    Snippet("paint_radial_gradient", f"{DOCS}/paint.rst: Radial Gradient Shader", """
        def draw(canvas):
            canvas.drawPaint({
                'Shader': skia.GradientShader.MakeRadial(
                    center=(128.0, 128.0),
                    radius=180.0,
                    colors=[skia.ColorBLUE, skia.ColorYELLOW]
                )
            })
        """),
    Snippet("paint_two_point_conical", f"{DOCS}/paint.rst: Two-Point Conical Gradient Shader", """
        def draw(canvas):
            canvas.drawPaint({
                'Shader': skia.GradientShader.MakeTwoPointConical(
                    start=(128.0, 128.0),
                    startRadius=128.0,
                    end=(128.0, 16.0),
                    endRadius=16.0,
                    colors=[skia.ColorBLUE, skia.ColorYELLOW]
                )
            })
        """),
    Snippet("paint_sweep_gradient", f"{DOCS}/paint.rst: Sweep Gradient Shader", """
        def draw(canvas):
            canvas.drawPaint({
                'Shader': skia.GradientShader.MakeSweep(
                    cx=128.0,
                    cy=128.0,
                    colors=[
                        skia.ColorCYAN,
                        skia.ColorMAGENTA,
                        skia.ColorYELLOW,
                        skia.ColorCYAN
                    ]
                )
            })
        """),
    Snippet("paint_fractal_noise", f"{DOCS}/paint.rst: Fractal Perlin Noise Shader", """
        def draw(canvas):
            canvas.drawPaint({
                'Shader': skia.PerlinNoiseShader.MakeFractalNoise(0.05, 0.05, 4, 0.0)
            })
        """),
    Snippet("paint_turbulence", f"{DOCS}/paint.rst: Turbulence Perlin Noise Shader", """
        def draw(canvas):
            canvas.drawPaint({
                'Shader': skia.PerlinNoiseShader.MakeTurbulence(0.05, 0.05, 4, 0.0)
            })
        """),
    Snippet("paint_compose_shader", f"{DOCS}/paint.rst: Compose Shader", """
        def draw(canvas):
            shader = skia.Shaders.Blend(
                skia.BlendMode.kDifference,
                skia.GradientShader.MakeRadial(
                    (128.0, 128.0), 180.0, [skia.ColorBLUE, skia.ColorYELLOW]),
                skia.PerlinNoiseShader.MakeTurbulence(0.025, 0.025, 2, 0.0))
            canvas.drawPaint({'Shader': shader})
        """),
    Snippet("paint_drop_shadow", f"{DOCS}/paint.rst: Drop Shadow", """
        def draw(canvas):
            canvas.drawColor(skia.ColorWHITE)
            paint = skia.Paint(
                ImageFilter=skia.ImageFilters.DropShadow(3, 3, 5, 5, skia.ColorBLACK)
            )
            blob = skia.TextBlob("Skia", skia.Font(None, 120))
            canvas.drawTextBlob(blob, 0, 160, paint)
        """),
    Snippet("paint_dilate", f"{DOCS}/paint.rst: Dilate", """
        def draw(canvas):
            canvas.drawColor(skia.ColorWHITE)
            paint = skia.Paint(
                ImageFilter=skia.ImageFilters.Dilate(2, 2)
            )
            blob = skia.TextBlob("Skia", skia.Font(None, 120))
            canvas.drawTextBlob(blob, 0, 160, paint)
        """),
    Snippet("paint_erode", f"{DOCS}/paint.rst: Erode", """
        def draw(canvas):
            canvas.drawColor(skia.ColorWHITE)
            paint = skia.Paint(
                ImageFilter=skia.ImageFilters.Erode(2, 2)
            )
            blob = skia.TextBlob("Skia", skia.Font(None, 120))
            canvas.drawTextBlob(blob, 0, 160, paint)
        """),
    Snippet("paint_blur_mask_filter", f"{DOCS}/paint.rst: Blur Mask Filter", """
        def draw(canvas):
            canvas.drawColor(skia.ColorWHITE)
            paint = skia.Paint(
                MaskFilter=skia.MaskFilter.MakeBlur(skia.kNormal_BlurStyle, 5.0)
            )
            blob = skia.TextBlob("Skia", skia.Font(None, 120))
            canvas.drawTextBlob(blob, 0, 160, paint)
        """),
    Snippet("paint_color_matrix", f"{DOCS}/paint.rst: Color Matrix Color Filter", """
        def f(canvas, x, y, colorMatrix):
            canvas.drawImage(image, x, y, skia.SamplingOptions(), skia.Paint(
                ColorFilter=skia.ColorFilters.Matrix(colorMatrix),
            ))

        def draw(canvas):
            canvas.scale(0.25, 0.25)
            colorMatrix = [
                0, 1, 0, 0, 0,
                0, 0, 1, 0, 0,
                1, 0, 0, 0, 0,
                0, 0, 0, 1, 0
            ]
            f(canvas, 0, 0, colorMatrix)
            grayscale = [
                0.21, 0.72, 0.07, 0.0, 0.0,
                0.21, 0.72, 0.07, 0.0, 0.0,
                0.21, 0.72, 0.07, 0.0, 0.0,
                0.0,  0.0,  0.0,  1.0, 0.0
            ]
            f(canvas, 512, 0, grayscale)
        """, image=LAKE, since=116),  # drawImage takes SamplingOptions since m116
    Snippet("paint_path_2d_path_effect", f"{DOCS}/paint.rst: Path 2D Path Effect", """
        def draw(canvas):
            scale = 10.0
            path = skia.Path()
            pts = [2, 2, 1, 3, 0, 3, 2, 1, 3, 1, 4, 0, 4, 1,
                   5, 1, 4, 2, 4, 3, 2, 5, 2, 4, 3, 3, 2, 3]
            path.moveTo(2 * scale, 3 * scale)
            for i in range(0, len(pts), 2):
                path.lineTo(pts[i] * scale, pts[i + 1] * scale)
            path.close()
            matrix = skia.Matrix.Scale(4 * scale, 4 * scale)  # the page's MakeScale: no such call
            paint = skia.Paint(
                AntiAlias=True,
                PathEffect=skia.Path2DPathEffect.Make(matrix, path),
            )
            canvas.clear(skia.ColorWHITE)
            bounds = skia.Rect(-4 * scale, -4 * scale, 256, 256)
            canvas.drawRect(bounds, paint)
        """),
    Snippet("paint_line_2d_path_effect", f"{DOCS}/paint.rst: Line 2D Path Effect", """
        def draw(canvas):
            lattice = skia.Matrix()
            lattice.setScale(8.0, 8.0)
            lattice.preRotate(30.0)
            paint = skia.Paint(
                AntiAlias=True,
                PathEffect=skia.Line2DPathEffect.Make(0.0, lattice)
            )
            bounds = skia.Rect(256, 256)
            bounds.outset(8.0, 8.0)
            canvas.clear(skia.ColorWHITE)
            canvas.drawRect(bounds, paint)
        """),
    Snippet("paint_path_1d_path_effect", f"{DOCS}/paint.rst: Path 1D Path Effect", """
        def draw(canvas):
            path = skia.Path()
            path.addOval(skia.Rect(16.0, 6.0))
            paint = skia.Paint(
                AntiAlias=True,
                PathEffect=skia.Path1DPathEffect.Make(
                    path, 32.0, 0.0, skia.Path1DPathEffect.kRotate_Style),
            )
            canvas.clear(skia.ColorWHITE)
            canvas.drawCircle(128.0, 128.0, 122.0, paint)
        """),
    Snippet("paint_corner_path_effect", f"{DOCS}/paint.rst: Corner Path Effect", STAR + """
        def draw(canvas):
            paint = skia.Paint(
                AntiAlias=True,
                PathEffect=skia.CornerPathEffect.Make(32.0),
                Style=skia.Paint.kStroke_Style,
            )
            canvas.clear(skia.ColorWHITE)
            path = star()
            canvas.drawPath(path, paint)
        """),
    Snippet("paint_dash_path_effect", f"{DOCS}/paint.rst: Dash Path Effect", STAR + """
        def draw(canvas):
            paint = skia.Paint(
                AntiAlias=True,
                PathEffect=skia.DashPathEffect.Make([10.0, 5.0, 2.0, 5.0], 0.0),
                StrokeWidth=2.0,
                Style=skia.Paint.kStroke_Style,
            )
            canvas.clear(skia.ColorWHITE)
            path = star()
            canvas.drawPath(path, paint)
        """),
    Snippet("paint_discrete_path_effect", f"{DOCS}/paint.rst: Discrete Path Effect", STAR + """
        def draw(canvas):
            paint = skia.Paint(
                AntiAlias=True,
                PathEffect=skia.DiscretePathEffect.Make(10.0, 4.0),
                StrokeWidth=2.0,
                Style=skia.Paint.kStroke_Style,
            )
            canvas.clear(skia.ColorWHITE)
            path = star()
            canvas.drawPath(path, paint)
        """),
    Snippet("paint_compose_path_effect", f"{DOCS}/paint.rst: Compose Path Effect", STAR + """
        def draw(canvas):
            path_effect = skia.PathEffect.MakeCompose(
                skia.DashPathEffect.Make([10.0, 5.0, 2.0, 5.0], 0.0),
                skia.DiscretePathEffect.Make(10.0, 4.0)
            )
            paint = skia.Paint(
                AntiAlias=True,
                PathEffect=path_effect,
                StrokeWidth=2.0,
                Style=skia.Paint.kStroke_Style,
            )
            canvas.clear(skia.ColorWHITE)
            path = star()
            canvas.drawPath(path, paint)
        """),
    Snippet("paint_sum_path_effect", f"{DOCS}/paint.rst: Sum Path Effect", STAR + """
        def draw(canvas):
            path_effect = skia.PathEffect.MakeSum(
                skia.DiscretePathEffect.Make(10.0, 4.0),
                skia.DiscretePathEffect.Make(10.0, 4.0, 1245)
            )
            paint = skia.Paint(
                AntiAlias=True,
                PathEffect=path_effect,
                StrokeWidth=2.0,
                Style=skia.Paint.kStroke_Style,
            )
            canvas.clear(skia.ColorWHITE)
            path = star()
            canvas.drawPath(path, paint)
        """),
]

PATH = [
    Snippet("path_overview", f"{DOCS}/path.rst: Path Overview", """
        def draw(canvas):
            paint = skia.Paint(AntiAlias=True)
            path = skia.Path()
            path.moveTo(124, 108)
            path.lineTo(172, 24)
            path.addCircle(50, 50, 30)
            path.moveTo(36, 148)
            path.quadTo(66, 188, 120, 136)
            canvas.drawPath(path, paint)
            paint.setStyle(skia.Paint.kStroke_Style);
            paint.setColor(skia.ColorBLUE)
            paint.setStrokeWidth(3)
            canvas.drawPath(path, paint)
        """),
    Snippet("path_fill_stroke_both", f"{DOCS}/path.rst: Path Overview (fill type)", """
        def draw(canvas):
            paint = skia.Paint(AntiAlias=True)
            path = skia.Path()
            path.moveTo(36, 48)
            path.quadTo(66, 88, 120, 36)
            canvas.drawPath(path, paint)
            paint.setStyle(skia.Paint.kStroke_Style)
            paint.setColor(skia.ColorBLUE)
            paint.setStrokeWidth(8)
            canvas.translate(0, 50)
            canvas.drawPath(path, paint)
            paint.setStyle(skia.Paint.kStrokeAndFill_Style)
            paint.setColor(skia.ColorRED)
            canvas.translate(0, 50)
            canvas.drawPath(path, paint)
        """),
    Snippet("path_contours", f"{DOCS}/path.rst: Contour", """
        def draw(canvas):
            font = skia.Font()
            paint = skia.Paint(AntiAlias=True)
            canvas.drawString("1st contour", 150, 100, font, paint)
            canvas.drawString("2nd contour", 130, 160, font, paint)
            canvas.drawString("3rd contour", 40, 30, font, paint)
            paint.setStyle(skia.Paint.kStroke_Style)
            path = skia.Path()
            path.moveTo(124, 108)
            path.lineTo(172, 24)
            path.moveTo(36, 148)
            path.quadTo(66, 188, 120, 136)
            path.close()
            path.conicTo(70, 20, 110, 40, 0.6)
            canvas.drawPath(path, paint)
        """),
    Snippet("path_open_and_closed", f"{DOCS}/path.rst: Contour (close)", """
        def draw(canvas):
            paint = skia.Paint(
                AntiAlias=True,
                Style=skia.Paint.kStroke_Style,
                StrokeWidth=8)
            path = skia.Path()
            path.moveTo(36, 48)
            path.quadTo(66, 88, 120, 36)
            canvas.drawPath(path, paint)
            path.close()
            canvas.translate(0, 50)
            canvas.drawPath(path, paint)
        """),
    Snippet("path_zero_length_caps", f"{DOCS}/path.rst: Contour length", """
        def draw(canvas):
            paint = skia.Paint(
                AntiAlias=True,
                Style=skia.Paint.kStroke_Style,
                StrokeWidth=8,
                StrokeCap=skia.Paint.kRound_Cap)
            path = skia.Path()
            path.moveTo(36, 48)
            path.lineTo(36, 48)
            canvas.drawPath(path, paint)
            path.reset()
            paint.setStrokeCap(skia.Paint.kSquare_Cap)
            path.moveTo(56, 48)
            path.close()
            canvas.drawPath(path, paint)
        """),
]

SHOWCASE = [
    Snippet("showcase_shapes", f"{NOTEBOOKS}/Showcase.ipynb: cell 3", """
        def draw(canvas):
            canvas.drawColor(skia.ColorWHITE)
            paint = skia.Paint(
                Style=skia.Paint.kFill_Style,
                AntiAlias=True,
                StrokeWidth=4,
                Color=0xFF4285F4)
            rect = skia.Rect.MakeXYWH(10, 10, 100, 160)
            canvas.drawRect(rect, paint)
            oval = skia.RRect()
            oval.setOval(rect)
            oval.offset(40, 80)
            paint.setColor(0xFFDB4437)
            canvas.drawRRect(oval, paint)
            paint.setColor(0xFF0F9D58)
            canvas.drawCircle(180, 50, 25, paint)
            rect.offset(80, 50)
            paint.setColor(0xFFF4B400)
            paint.setStyle(skia.Paint.kStroke_Style)
            canvas.drawRoundRect(rect, 10, 10, paint)
        """),
    Snippet("showcase_bezier", f"{NOTEBOOKS}/Showcase.ipynb: cell 5", """
        def draw(canvas):
            canvas.drawColor(skia.ColorWHITE)
            paint = skia.Paint(
                Style=skia.Paint.kStroke_Style,
                StrokeWidth=8,
                Color=0xFF4285F4,
                AntiAlias=True,
                StrokeCap=skia.Paint.kRound_Cap)
            path = skia.Path()
            path.moveTo(10, 10)
            path.quadTo(256, 64, 128, 128)
            path.quadTo(10, 192, 250, 250)
            canvas.drawPath(path, paint)
        """),
    Snippet("showcase_rotations", f"{NOTEBOOKS}/Showcase.ipynb: cell 7", """
        def draw(canvas):
            canvas.translate(128, 0)
            canvas.rotate(60)
            rect = skia.Rect.MakeXYWH(0, 0, 200, 100)
            paint = skia.Paint(AntiAlias=True, Color=0xFF4285F4)
            canvas.drawRect(rect, paint)
            canvas.rotate(20)
            paint.setColor(0xFFDB4437)
            canvas.drawRect(rect, paint)
        """),
    Snippet("showcase_text", f"{NOTEBOOKS}/Showcase.ipynb: cell 9", """
        def draw(canvas):
            typeface = skia.Typeface('Arial')
            font1 = skia.Font(typeface, 64.0, 1.0, 0.0)
            font2 = skia.Font(typeface, 64.0, 1.5, 0.0)
            font1.setEdging(skia.Font.Edging.kAntiAlias)
            font2.setEdging(skia.Font.Edging.kAntiAlias)
            blob1 = skia.TextBlob.MakeFromString('Skia', font1)
            blob2 = skia.TextBlob.MakeFromString('Skia', font2)
            paint1 = skia.Paint(
                AntiAlias=True,
                Color=skia.Color(0x42, 0x85, 0xF4))
            paint2 = skia.Paint(
                AntiAlias=True,
                Color=skia.Color(0xDB, 0x44, 0x37),
                Style=skia.Paint.kStroke_Style,
                StrokeWidth=3.0)
            paint3 = skia.Paint(
                AntiAlias=True,
                Color=skia.Color(0x0F, 0x9D, 0x58))
            canvas.clear(skia.ColorWHITE)
            canvas.drawTextBlob(blob1, 20.0, 64.0, paint1)
            canvas.drawTextBlob(blob1, 20.0, 144.0, paint2)
            canvas.drawTextBlob(blob2, 20.0, 224.0, paint3)
        """),
    Snippet("showcase_gradient_star", f"{NOTEBOOKS}/Showcase.ipynb: cell 17", STAR + """
        def draw(canvas):
            paint = skia.Paint(
                PathEffect=skia.DiscretePathEffect.Make(10.0, 4.0),
                Shader=skia.GradientShader.MakeLinear(
                    [(0, 0), (256, 256)],
                    [skia.Color(66, 133, 244), skia.Color(15, 157, 88)]),
                AntiAlias=True)
            canvas.clear(skia.ColorWHITE)
            path = star()
            canvas.drawPath(path, paint)
        """),
]

TEXTS = [
    Snippet("texts_string_and_blobs", f"{NOTEBOOKS}/Drawing-Texts.ipynb: cell 3", """
        def draw(canvas):
            paint = skia.Paint(AntiAlias=True, Color=skia.ColorRED)
            canvas.drawString('String', 10, 32, skia.Font(None, 36), paint)
            paint.setColor(skia.ColorGREEN)
            blob = skia.TextBlob('Blob', skia.Font(None, 36))
            canvas.drawTextBlob(blob, 10, 64, paint)
            paint.setColor(skia.ColorBLUE)
            blob = skia.TextBlob('Blob', skia.Font(None, 36), [(0, 0), (32, 5), (64, -5), (96, 2)])
            canvas.drawTextBlob(blob, 10, 96, paint)
        """, 128, 128),
    Snippet("texts_rsxform", f"{NOTEBOOKS}/Drawing-Texts.ipynb: cell 5", """
        def draw(canvas):
            paint = skia.Paint(AntiAlias=True)
            blob = skia.TextBlob('Skia', skia.Font(None, 36), [(0, 0), (32, 5), (64, -5), (96, 2)])
            canvas.drawTextBlob(blob, 10, 48, paint)
            xform = [
                skia.RSXform(1, 0, 0, 0),
                skia.RSXform(1.2, 0, 28, 0),
                skia.RSXform(0.8, -0.1, 48, 0),
                skia.RSXform(1, 0.2, 64, 0),
            ]
            blob = skia.TextBlob.MakeFromRSXform('Skia', xform, skia.Font(None, 36))
            canvas.drawTextBlob(blob, 10, 96, paint)
        """, 128, 128),
    Snippet("texts_blob_builder", f"{NOTEBOOKS}/Drawing-Texts.ipynb: cell 7", """
        def draw(canvas):
            builder = skia.TextBlobBuilder()
            builder.allocRun('First Text', skia.Font(skia.Typeface('Arial'), 24), 0, 0)
            builder.allocRun('Second text', skia.Font(skia.Typeface('Arial'), 18), 10, 30)
            blob = builder.make()
            canvas.drawTextBlob(blob, 10, 32, skia.Paint(AntiAlias=True))
        """, 128, 64),
    Snippet("texts_font_metrics", f"{NOTEBOOKS}/Drawing-Texts.ipynb: cells 14-24", """
        font = skia.Font(skia.Typeface('Times New Roman'), 24)
        print(font.measureText('text'))
        print(font.getSpacing())
        glyphs = font.textToGlyphs('text')
        print(glyphs)
        print(font.getPos(glyphs, origin=(10, 10)))
        print(font.getBounds(glyphs))

        def draw(canvas):
            canvas.drawString('text', 10, 40, font, skia.Paint(AntiAlias=True))
        """, 128, 64),
]

IMAGE_IO = [
    Snippet("image_io_surface", f"{NOTEBOOKS}/Python-Image-IO.ipynb: cells 6-8", """
        def draw(canvas):
            surface = skia.Surface(100, 100)
            with surface as into:
                into.clear(skia.ColorYELLOW)
                paint = skia.Paint(AntiAlias=True, Color=skia.ColorCYAN)
                into.drawCircle((50, 50), 25, paint)
            image = surface.makeImageSnapshot()
            canvas.drawImage(image, 0, 0)
            canvas.drawImage(image.resize(50, 50), 100, 0)
        """, 150, 100),
    Snippet("image_io_encode", f"{NOTEBOOKS}/Python-Image-IO.ipynb: cell 10", """
        def draw(canvas):
            surface = skia.Surface(100, 100)
            with surface as into:
                into.clear(skia.ColorYELLOW)
                into.drawCircle((50, 50), 25, skia.Paint(AntiAlias=True, Color=skia.ColorCYAN))
            image = surface.makeImageSnapshot()
            data = image.encodeToData(skia.kWEBP, 100)
            print(bytes(data)[:16])
            canvas.drawImage(skia.Image.MakeFromEncoded(data), 0, 0)
        """, 100, 100),
    Snippet("image_io_fromarray", f"{NOTEBOOKS}/Python-Image-IO.ipynb: cell 12", """
        import numpy as np

        def draw(canvas):
            array = np.zeros((64, 64, 4), dtype=np.uint8)
            array[24:48, 24:48, 3] = 255
            image = skia.Image.fromarray(array)
            canvas.drawImage(image, 0, 0)
            print(image.toarray().sum())
        """, 64, 64),
    Snippet("image_io_canvas_and_surface_toarray", f"{NOTEBOOKS}/Python-Image-IO.ipynb: cell 18",
            """
        def draw(canvas):
            paint = skia.Paint(AntiAlias=True, Color=skia.ColorCYAN)
            canvas.drawCircle((64, 64), 32, paint)
            print(canvas.toarray().shape, canvas.getSurface().toarray().shape)
        """, 128, 128, reads_back=True),
    Snippet("image_io_snapshot_of_the_canvas", f"{NOTEBOOKS}/Python-Image-IO.ipynb: cells 6-8",
            """
        def draw(canvas):
            canvas.clear(skia.ColorYELLOW)
            paint = skia.Paint(AntiAlias=True, Color=skia.ColorCYAN)
            canvas.drawCircle((50, 50), 25, paint)
            image = canvas.getSurface().makeImageSnapshot()
            canvas.drawImage(image.resize(50, 50), 100, 0)
        """, 150, 100, reads_back=True),
    # Pillow, as the notebook shows it: the fiddle's source image stands for the PNG it opens.
    Snippet("pillow_fromarray_unpremul", f"{NOTEBOOKS}/Python-Image-IO.ipynb: cell 20", """
        import PIL.Image
        import numpy as np

        def draw(canvas):
            skia_image = image
            pil_image = PIL.Image.fromarray(skia_image.convert(
                alphaType=skia.kUnpremul_AlphaType, colorType=skia.kRGBA_8888_ColorType))
            print(pil_image.mode, pil_image.size)
            canvas.drawImage(skia.Image.fromarray(np.asarray(pil_image.rotate(90))), 0, 0)
        """, 128, 128, image=COLOR_WHEEL, pillow=True),
    Snippet("pillow_fromarray_rgba_premul", f"{NOTEBOOKS}/Python-Image-IO.ipynb: cell 22", """
        import PIL.Image

        def draw(canvas):
            pil_image = PIL.Image.fromarray(image, 'RGBa')
            print(pil_image.mode, pil_image.size)
            back = skia.Image.frombytes(
                pil_image.convert('RGBA').tobytes(), pil_image.size, skia.kRGBA_8888_ColorType)
            canvas.drawImage(back, 0, 0)
        """, 128, 128, image=COLOR_WHEEL, pillow=True),
    Snippet("pillow_open_encoded", f"{NOTEBOOKS}/Python-Image-IO.ipynb: cells 24-26", """
        import io
        import PIL.Image

        def draw(canvas):
            with io.BytesIO(image.encodeToData()) as f:
                pil_image = PIL.Image.open(f)
                pil_image.load()  # Ensure to make a copy of buffer
            print(pil_image.format, pil_image.mode, pil_image.size)
            skia_image = skia.Image.frombytes(
                pil_image.convert('RGBA').tobytes(), pil_image.size, skia.kRGBA_8888_ColorType)
            canvas.drawImage(skia_image, 0, 0)
            skia_image = skia.Image.frombytes(
                pil_image.convert('RGBX').tobytes(), pil_image.size, skia.kRGB_888x_ColorType)
            canvas.drawImage(skia_image, 128, 0)
            skia_image = skia.Image.frombytes(
                pil_image.convert('L').tobytes(), pil_image.size, skia.kGray_8_ColorType)
            canvas.drawImage(skia_image, 0, 128)
        """, image=COLOR_WHEEL, pillow=True),
    Snippet("pillow_save_then_skia_open", f"{NOTEBOOKS}/Python-Image-IO.ipynb: cell 28", """
        import io
        import PIL.Image

        def draw(canvas):
            pil_image = PIL.Image.open(io.BytesIO(image.encodeToData()))
            with io.BytesIO() as f:
                pil_image.save(f, 'png')
                f.seek(0)
                skia_image = skia.Image.open(f)
            canvas.drawImage(skia_image, 0, 0)
        """, 128, 128, image=COLOR_WHEEL, pillow=True),
]

TEST_SUITE = [
    Snippet("canvas_make_surface", f"{TESTS}/test_canvas.py: test_Canvas_makeSurface", """
        def draw(canvas):
            surface = canvas.makeSurface(canvas.imageInfo())
            with surface as layer:
                layer.drawCircle(32, 32, 24, skia.Paint(AntiAlias=True, Color=skia.ColorRED))
            canvas.drawImage(surface.makeImageSnapshot(), 16, 16)
        """, 96, 96, reads_back=True),
    Snippet("canvas_draw_vertices", f"{TESTS}/test_canvas.py: test_Canvas_drawVertices", """
        def draw(canvas):
            vertices = skia.Vertices(
                skia.Vertices.kTriangles_VertexMode,
                [skia.Point(0, 0), skia.Point(100, 100), skia.Point(100, 0)],
                [skia.Point(1, 1), skia.Point(1, 0), skia.Point(0, 0)],
                [skia.ColorRED, skia.ColorGREEN, skia.ColorBLUE],
            )
            canvas.drawVertices(vertices, skia.Paint(), skia.BlendMode.kModulate)
        """, 128, 128),
    Snippet("canvas_draw_picture", f"{TESTS}/conftest.py: picture; test_canvas.py: drawPicture", """
        def draw(canvas):
            recorder = skia.PictureRecorder()
            recording = recorder.beginRecording(skia.Rect(100, 100))
            recording.clear(0xFFFFFFFF)
            recording.drawLine(0, 0, 100, 100, skia.Paint())
            picture = recorder.finishRecordingAsPicture()
            canvas.drawPicture(picture, skia.Matrix.Translate(10, 10), skia.Paint())
        """, 128, 128),
    Snippet("path_measure", f"{TESTS}/test_pathmeasure.py: test_forceclosed", """
        def draw(canvas):
            path = skia.Path()
            path.moveTo(0, 0)
            path.lineTo(1, 0)
            path.lineTo(1, 1)
            path.lineTo(0, 1)
            meas = skia.PathMeasure(path, True)
            print(meas.getLength())
            canvas.scale(48, 48)
            canvas.drawPath(path, skia.Paint(AntiAlias=True, Color=skia.ColorMAGENTA))
        """, 64, 64),
]

SNIPPETS: tuple[Snippet, ...] = (
    *OVERVIEW, *CANVAS, *PAINT, *PATH, *SHOWCASE, *TEXTS, *IMAGE_IO, *TEST_SUITE
)
