"""faceapp for Python: face_recognition's API (``faceapp.face_recognition``) and faceapp's pipeline.

    import faceapp
    pipe = faceapp.read | faceapp.fit(1600) | faceapp.encode
    faces = pipe("photo.jpg")            # faceapp.Faces; faceapp.StageError on a bad input
    for face in faces:
        print(face.box, face.encoding[:4])

See docs/python.md.
"""
import os as _os

from ._errors import StageError
from . import _faceapp
from ._faceapp import Image, Face, Faces

try:  # written by `cmake --install`: where the installed package's models are
    from ._install import MODEL_DIR as _INSTALLED_MODEL_DIR
    _faceapp.set_package_model_dir(_os.path.normpath(_os.path.join(_os.path.dirname(__file__), _INSTALLED_MODEL_DIR)))
except ImportError:
    pass

from ._pipeline import (Stage, Pipeline, read, resize, fit, detect, landmarks, encode, distance_to, compare,
                        Gallery, distance)

__all__ = ["StageError", "Image", "Face", "Faces", "Stage", "Pipeline", "read", "resize", "fit", "detect",
           "landmarks", "encode", "distance_to", "compare", "Gallery", "distance"]
