"""What a child runs, with Skia: the user's program and its outputs, or the decode of an upload.
Imported by the sandbox host before it forks (it warms Skia up), and by benchmarks in-process.

    execute.py  compile and run a program, or decode an image: the run's outcome
    passes.py   the output passes: one per drawn output of the registry
                (fiddle_protocol/outputs.py), each with its name and renderer
    render.py   the renderers: draw(canvas) once on a canvas of the pass's own
    images.py   decoding an upload into a normalised PNG and its thumbnails
"""
