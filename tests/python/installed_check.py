"""The Python package as `cmake --install` leaves it: imported from the prefix, looking first in the prefix's
share/faceapp/models, and working. Run by the "package: python" test after "package: install".

Usage: python3 installed_check.py PREFIX SITE_DIR IMAGE
"""
import os
import sys

prefix, site, image = sys.argv[1:4]
sys.path.insert(0, os.path.join(prefix, site))

import faceapp  # noqa: E402
import faceapp.face_recognition as fr  # noqa: E402
from faceapp import _faceapp  # noqa: E402

here = os.path.realpath(os.path.dirname(faceapp.__file__))
assert here.startswith(os.path.realpath(prefix)), f"imported {here}, not the copy in {prefix}"
models = os.path.realpath(os.path.join(prefix, "share", "faceapp", "models"))
first = os.path.realpath(_faceapp.model_search_path()[0])
assert first == models, f"the installed package looks first in {first}, not {models}"
assert os.path.isfile(os.path.join(models, "dlib_face_recognition_resnet_model_v1.dat")), "no encoder installed"
boxes = fr.face_locations(fr.load_image_file(image))
assert len(boxes) == 1, boxes
assert len(fr.face_encodings(fr.load_image_file(image), boxes)[0]) == 128
print(f"installed package in {here}: models from {first}, {boxes}")
