"""faceapp's stages as Python values: compose them with | into a callable.

    pipe = faceapp.read | faceapp.fit(1600) | faceapp.encode | faceapp.distance_to(gallery)
    faces = pipe("photo.jpg")     # faceapp.Faces; raises faceapp.StageError naming the stage and the input

Data flows as source (a path, or bytes) -> Image -> faces -> encoded faces, as in the C++ library; `a | b` is
refused (TypeError naming both) when a's output is not what b takes.
"""
import os

import numpy as np

from . import _faceapp
from ._faceapp import Image, Faces

# An encoded face is still a face: a stage taking faces takes encoded faces too.
_CONVERTS = {("encoded_faces", "faces")}


def _fits(output, inputs):
    return output in inputs or any((output, i) in _CONVERTS for i in inputs)


class Stage:
    """One stage: a name, the kinds it takes, the kind it gives, and a function. Calling it runs it. The kinds
    are "source", "image", "faces" and "encoded_faces"."""

    def __init__(self, name, inputs, output, fn):
        self.name = name
        self.inputs = tuple(inputs)
        self.output = output
        self._fn = fn

    def __call__(self, value):
        return self._fn(value)

    def __or__(self, other):
        if not isinstance(other, Stage):
            return NotImplemented
        if not _fits(self.output, other.inputs):
            raise TypeError(f"cannot compose {self.name} | {other.name}: {self.name} gives {self.output}, "
                            f"{other.name} takes {' or '.join(other.inputs)}")
        first = self.stages if isinstance(self, Pipeline) else [self]
        second = other.stages if isinstance(other, Pipeline) else [other]
        return Pipeline(first + second)

    def __repr__(self):
        return f"<faceapp stage {self.name}: {' | '.join(self.inputs)} -> {self.output}>"


class Pipeline(Stage):
    """Stages run in order; the first error stops it."""

    def __init__(self, stages):
        self.stages = list(stages)
        super().__init__(" | ".join(s.name for s in self.stages), self.stages[0].inputs, self.stages[-1].output,
                         self._run)

    def _run(self, value):
        for s in self.stages:
            value = s(value)
        return value


def _expect(name, value, *types):
    if not isinstance(value, types):
        raise TypeError(f"{name}: expected {' or '.join(t.__name__ for t in types)}, got {type(value).__name__}")


def _read_with(max_pixels=0):
    def run(src):
        if isinstance(src, (bytes, bytearray, memoryview)):
            return _faceapp.stage_read(bytes(src), max_pixels)
        if isinstance(src, tuple) and len(src) == 2 and isinstance(src[0], (bytes, bytearray)):
            return _faceapp.stage_read_named_bytes(bytes(src[0]), str(src[1]), max_pixels)
        return _faceapp.stage_read(os.fspath(src), max_pixels)
    return run


class _ReadStage(Stage):
    """`read`: a path, bytes, or (bytes, name) -> Image. `read(max_pixels=N)` sets the pixel limit."""

    def __init__(self, max_pixels=0):
        super().__init__("read", ["source"], "image", _read_with(max_pixels))

    def __call__(self, value=None, *, max_pixels=None):
        if value is None:
            return _ReadStage(max_pixels or 0)
        return self._fn(value)


def resize(scale):
    """`resize(s)`: Image -> Image scaled by s (0 < s <= 4); later boxes are in the coordinates as read."""
    scale = float(scale)
    return Stage(f"resize({scale:g})", ["image"], "image", lambda img: _faceapp.stage_resize(img, scale))


def fit(max_side):
    """`fit(n)`: Image -> Image shrunk so that its longer side is at most n pixels (never enlarged)."""
    max_side = int(max_side)
    return Stage(f"fit({max_side})", ["image"], "image", lambda img: _faceapp.stage_fit(img, max_side))


def _as_image(name, value):
    if isinstance(value, np.ndarray):
        return Image.from_array(value)
    _expect(name, value, Image)
    return value


class _DetectStage(Stage):
    """`detect`: Image -> Faces. `detect(upsample)`, `detect(model="cnn")` or `detect("cnn", tiles)` configure it."""

    def __init__(self, upsample=1, model="hog"):
        self._upsample, self._model = upsample, model
        super().__init__(f"detect({model}, {upsample})" if (upsample, model) != (1, "hog") else "detect",
                         ["image"], "faces",
                         lambda img: _faceapp.stage_detect(_as_image("detect", img), upsample, model))

    def __call__(self, value=None, arg=None, *, upsample=None, model=None):
        if isinstance(value, (Image, np.ndarray)):
            return self._fn(value)
        if isinstance(value, str):  # detect("cnn"), detect("cnn", tiles)
            model, upsample = value, arg if arg is not None else upsample
        elif value is not None:     # detect(2)
            upsample = value
        model = model or "hog"
        if upsample is None:
            upsample = 1 if model == "hog" else 0
        return _DetectStage(int(upsample), model)


class _EncodeStage(Stage):
    """`encode`: Image or Faces -> encoded Faces (detects and finds landmarks when needed). `encode(jitters)`."""

    def __init__(self, jitters=1):
        def run(value):
            if isinstance(value, Faces):
                return _faceapp.stage_encode_faces(value, jitters)
            return _faceapp.stage_encode_image(_as_image("encode", value), jitters)
        super().__init__("encode" if jitters == 1 else f"encode({jitters})", ["image", "faces"], "encoded_faces", run)

    def __call__(self, value=None, *, jitters=None):
        if isinstance(value, int) and not isinstance(value, bool):
            return _EncodeStage(value)
        if value is None:
            return _EncodeStage(jitters or 1)
        return self._fn(value)


def _landmarks(faces):
    _expect("landmarks", faces, Faces)
    return _faceapp.stage_landmarks(faces)


def distance(a, b):
    """Euclidean distance between two encodings."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def distance_to(reference, tolerance=0.6):
    """`distance_to(encoding or Gallery, tolerance=0.6)`: encoded Faces -> the same, each face with its distance
    to the encoding (or to the nearest person of the gallery, and that person's name) and match."""
    tolerance = float(tolerance)

    def run(faces):
        _expect("distance_to", faces, Faces)
        for f in faces:
            enc = f.encoding
            if enc is None:
                continue
            if isinstance(reference, Gallery):
                best = reference.nearest(enc)
                if best is None:
                    f.distance, f.match, f.name = None, False, ""
                    continue
                f.name, f.distance = best
            else:
                f.distance = distance(enc, reference)
            f.match = f.distance <= tolerance
        return faces
    return Stage("distance_to", ["encoded_faces"], "encoded_faces", run)


def compare(tolerance=0.6):
    """`compare(tolerance)`: encoded Faces -> the same, match = distance <= tolerance."""
    tolerance = float(tolerance)

    def run(faces):
        _expect("compare", faces, Faces)
        for f in faces:
            if f.distance is not None:
                f.match = f.distance <= tolerance
        return faces
    return Stage(f"compare({tolerance:g})", ["encoded_faces"], "encoded_faces", run)


class Gallery:
    """Named encodings searched 1:N (faceapp::gallery's SIMD scans).

        g = faceapp.Gallery()
        g.add("alice", encoding)
        g.nearest(query)         # ("alice", 0.31), or None when empty
        g.top_k(query, 3)        # [(name, distance), ...], nearest first
        g.save("people.npz"); faceapp.Gallery.load("people.npz")
    """

    def __init__(self, _core=None):
        self._g = _core if _core is not None else _faceapp.Gallery()

    def add(self, name, encoding):
        return self._g.add(str(name), np.asarray(encoding))

    def nearest(self, encoding):
        return self._g.nearest(np.asarray(encoding))

    def top_k(self, encoding, k):
        return self._g.top_k(np.asarray(encoding), int(k))

    def names(self):
        return self._g.names()

    def encodings(self):
        return self._g.matrix()

    def __len__(self):
        return len(self._g)

    def save(self, path):
        """Writes the names and encodings to a .npz file (no pickled objects)."""
        with open(path, "wb") as out:
            np.savez(out, names=np.array(self.names(), dtype=str), encodings=self.encodings())

    @classmethod
    def load(cls, path):
        with np.load(path, allow_pickle=False) as data:
            names = [str(n) for n in data["names"]]
            return cls(_faceapp.Gallery.from_matrix(names, np.asarray(data["encodings"], dtype=np.float32)))


read = _ReadStage()
detect = _DetectStage()
landmarks = Stage("landmarks", ["faces"], "faces", _landmarks)
encode = _EncodeStage()
