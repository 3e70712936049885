"""face_recognition 1.4.0's API on faceapp: switch with one import.

    import faceapp.face_recognition as face_recognition

The functions take and return what face_recognition's do (numpy uint8 images, (top, right, bottom, left) tuples,
float64 encodings of 128 values) with the same signatures and defaults. Where faceapp differs, the difference is
on purpose (see docs/python.md, "How it differs from face_recognition"):

- load_image_file applies the EXIF orientation, and refuses truncated or corrupt files (face_recognition loads
  them with PIL's LOAD_TRUNCATED_IMAGES); its exception (faceapp.StageError, also an OSError, or a
  FileNotFoundError for a missing file) names the file.
- model="cnn" is faceapp's cnn detector (SSD MobileNetV1), not dlib's mmod network, with its boxes mapped onto
  HOG's; number_of_times_to_upsample 0 or 1 is one pass over the whole photo, n >= 2 adds n - 1 levels of tiles.
- Without dlib's 5-point model (dlib.net's file, which Debian does not ship), model="small" landmarks are the
  five matching points of the 68-point model, and model="small" encodings align the face with the 68 points.

Every function that detects, finds landmarks or encodes releases the GIL while it works.
"""
import os

import numpy as np

from . import _faceapp

__all__ = ["load_image_file", "face_locations", "batch_face_locations", "face_landmarks", "face_encodings",
           "face_distance", "compare_faces"]


# dlib's result types, as far as face_recognition and its users touch them.

class point:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = int(x)
        self.y = int(y)

    def __eq__(self, other):
        return isinstance(other, point) and (self.x, self.y) == (other.x, other.y)

    def __repr__(self):
        return f"({self.x}, {self.y})"


class rectangle:
    """dlib.rectangle: left, top, right, bottom are inclusive pixel coordinates."""
    __slots__ = ("_l", "_t", "_r", "_b")

    def __init__(self, left=0, top=0, right=-1, bottom=-1):
        self._l, self._t, self._r, self._b = int(left), int(top), int(right), int(bottom)

    def left(self):
        return self._l

    def top(self):
        return self._t

    def right(self):
        return self._r

    def bottom(self):
        return self._b

    def width(self):
        return self._r - self._l + 1

    def height(self):
        return self._b - self._t + 1

    def area(self):
        return max(self.width(), 0) * max(self.height(), 0)

    def is_empty(self):
        return self._l > self._r or self._t > self._b

    def center(self):
        return point((self._l + self._r) // 2, (self._t + self._b) // 2)

    def __eq__(self, other):
        return isinstance(other, rectangle) and (self._l, self._t, self._r, self._b) == (
            other._l, other._t, other._r, other._b)

    def __repr__(self):
        return f"[({self._l}, {self._t}) ({self._r}, {self._b})]"


class mmod_rectangle:
    """dlib.mmod_rectangle: what the cnn detector returns, a rect and its confidence."""
    __slots__ = ("rect", "confidence")

    def __init__(self, rect, confidence):
        self.rect = rect
        self.confidence = confidence

    def __repr__(self):
        return f"<mmod_rectangle {self.rect!r} {self.confidence:.3f}>"


class full_object_detection:
    """dlib.full_object_detection: a face's rect and its landmark points."""
    __slots__ = ("rect", "_parts")

    def __init__(self, rect, parts):
        self.rect = rect
        self._parts = [p if isinstance(p, point) else point(*p) for p in parts]

    @property
    def num_parts(self):
        return len(self._parts)

    def part(self, i):
        return self._parts[i]

    def parts(self):
        return list(self._parts)


def _rect_to_css(rect):
    return rect.top(), rect.right(), rect.bottom(), rect.left()


def _css_to_rect(css):
    return rectangle(css[3], css[0], css[1], css[2])


def _trim_css_to_bounds(css, image_shape):
    return max(css[0], 0), min(css[1], image_shape[1]), min(css[2], image_shape[0]), max(css[3], 0)


def _check_upsample(n):
    n = int(n)
    if n < 0 or n > 4:
        raise ValueError(f"number_of_times_to_upsample must be in [0, 4], got {n}")
    return n


def _cnn_tiles(number_of_times_to_upsample):
    # dlib's mmod upsamples to find small faces; faceapp's cnn sees the photo at 512 x 512 and finds small faces
    # by scanning tiles instead: 0 or 1 (the default) is one pass, each further step adds a level of tiles.
    return max(_check_upsample(number_of_times_to_upsample) - 1, 0)


def load_image_file(file, mode='RGB'):
    """
    Loads an image file (.jpg, .png, .bmp or .webp) into a numpy array

    :param file: image file name or file object to load
    :param mode: format to convert the image to. Only 'RGB' (8-bit RGB, 3 channels) and 'L' (black and white) are supported.
    :return: image contents as numpy array

    Unlike face_recognition, the EXIF orientation is applied and a truncated or corrupt file is an error:
    faceapp.StageError (an OSError; FileNotFoundError for a missing file) naming the file.
    """
    mode = mode or 'RGB'
    if mode not in ('RGB', 'L'):
        raise ValueError(f"mode must be 'RGB' or 'L', got {mode!r}")
    if hasattr(file, "read"):
        data = file.read()
        if isinstance(data, str):
            raise TypeError("load_image_file: the file object must be opened in binary mode")
        name = getattr(file, "name", None)
        return _faceapp.read_image_bytes(bytes(data), str(name) if name else "file object", mode)
    return _faceapp.read_image(os.fspath(file), mode)


def _raw_face_locations(img, number_of_times_to_upsample=1, model="hog"):
    """
    Returns an array of bounding boxes of human faces in a image

    :param img: An image (as a numpy array)
    :param number_of_times_to_upsample: How many times to upsample the image looking for faces. Higher numbers find smaller faces.
    :param model: Which face detection model to use. "hog" is less accurate but faster on CPUs. "cnn" is faceapp's
                  cnn detector (SSD MobileNetV1): it also finds turned and tilted faces. The default is "hog".
    :return: A list of rectangle objects (mmod_rectangle objects for "cnn") of found face locations
    """
    if model == "cnn":
        return [mmod_rectangle(_css_to_rect(css), score)
                for css, score in _faceapp.cnn_locations(img, _cnn_tiles(number_of_times_to_upsample))]
    return [_css_to_rect(css) for css, _ in _faceapp.hog_locations(img, _check_upsample(number_of_times_to_upsample))]


def face_locations(img, number_of_times_to_upsample=1, model="hog"):
    """
    Returns an array of bounding boxes of human faces in a image

    :param img: An image (as a numpy array)
    :param number_of_times_to_upsample: How many times to upsample the image looking for faces. Higher numbers find smaller faces.
    :param model: Which face detection model to use. "hog" is less accurate but faster on CPUs. "cnn" is faceapp's
                  cnn detector. The default is "hog".
    :return: A list of tuples of found face locations in css (top, right, bottom, left) order
    """
    if model == "cnn":
        return [_trim_css_to_bounds(_rect_to_css(face.rect), img.shape)
                for face in _raw_face_locations(img, number_of_times_to_upsample, "cnn")]
    return [_trim_css_to_bounds(_rect_to_css(face), img.shape)
            for face in _raw_face_locations(img, number_of_times_to_upsample, model)]


def _raw_face_locations_batched(images, number_of_times_to_upsample=1, batch_size=128):
    """
    Returns an 2d array of rectangles of human faces in images using the cnn face detector

    :param images: A list of images (each as a numpy array)
    :param number_of_times_to_upsample: How many times to upsample the image looking for faces. Higher numbers find smaller faces.
    :param batch_size: How many images to include in each batch (faceapp's cnn runs one image at a time on all cores).
    :return: A list of lists of mmod_rectangle objects, one list per image
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    tiles = _cnn_tiles(number_of_times_to_upsample)
    return [[mmod_rectangle(_css_to_rect(css), score) for css, score in _faceapp.cnn_locations(img, tiles)]
            for img in images]


def batch_face_locations(images, number_of_times_to_upsample=1, batch_size=128):
    """
    Returns an 2d array of bounding boxes of human faces in images using the cnn face detector

    :param images: A list of images (each as a numpy array)
    :param number_of_times_to_upsample: How many times to upsample the image looking for faces. Higher numbers find smaller faces.
    :param batch_size: How many images to include in each batch.
    :return: A list of tuples of found face locations in css (top, right, bottom, left) order, one list per image
    """
    raw = _raw_face_locations_batched(images, number_of_times_to_upsample, batch_size)
    # Each image's boxes are trimmed to that image (face_recognition trims them all to the first one's size).
    return [[_trim_css_to_bounds(_rect_to_css(face.rect), img.shape) for face in detections]
            for img, detections in zip(images, raw)]


def _raw_face_landmarks(face_image, face_locations=None, model="large"):
    if face_locations is None:
        rects = _raw_face_locations(face_image)
    else:
        rects = [_css_to_rect(face_location) for face_location in face_locations]
    boxes = [_rect_to_css(r) for r in rects]
    points, _ = _faceapp.landmark_points(face_image, boxes, "small" if model == "small" else "large")
    return [full_object_detection(r, p) for r, p in zip(rects, points)]


def face_landmarks(face_image, face_locations=None, model="large"):
    """
    Given an image, returns a dict of face feature locations (eyes, nose, etc) for each face in the image

    :param face_image: image to search
    :param face_locations: Optionally provide a list of face locations to check.
    :param model: Optional - which model to use. "large" (default) or "small" which only returns 5 points but is faster.
    :return: A list of dicts of face feature locations (eyes, nose, etc)
    """
    if model not in ("large", "small"):
        raise ValueError("Invalid landmarks model type. Supported models are ['small', 'large'].")
    landmarks = _raw_face_landmarks(face_image, face_locations, model)
    landmarks_as_tuples = [[(p.x, p.y) for p in landmark.parts()] for landmark in landmarks]

    if model == 'large':
        return [{
            "chin": points[0:17],
            "left_eyebrow": points[17:22],
            "right_eyebrow": points[22:27],
            "nose_bridge": points[27:31],
            "nose_tip": points[31:36],
            "left_eye": points[36:42],
            "right_eye": points[42:48],
            "top_lip": points[48:55] + [points[64]] + [points[63]] + [points[62]] + [points[61]] + [points[60]],
            "bottom_lip": points[54:60] + [points[48]] + [points[60]] + [points[67]] + [points[66]] + [points[65]] + [points[64]]
        } for points in landmarks_as_tuples]
    return [{
        "nose_tip": [points[4]],
        "left_eye": points[2:4],
        "right_eye": points[0:2],
    } for points in landmarks_as_tuples]


def face_encodings(face_image, known_face_locations=None, num_jitters=1, model="small"):
    """
    Given an image, return the 128-dimension face encoding for each face in the image.

    :param face_image: The image that contains one or more faces
    :param known_face_locations: Optional - the bounding boxes of each face if you already know them.
    :param num_jitters: How many times to re-sample the face when calculating encoding. Higher is more accurate, but slower (i.e. 100 is 100x slower)
    :param model: Optional - which model to use. "large" or "small" (default) which only returns 5 points but is faster.
    :return: A list of 128-dimensional face encodings (one for each face in the image)
    """
    if known_face_locations is None:
        boxes = [_rect_to_css(r) for r in _raw_face_locations(face_image)]
    else:
        boxes = [tuple(int(v) for v in css) for css in known_face_locations]
    encodings = _faceapp.encodings(face_image, boxes, int(num_jitters), "small" if model == "small" else "large")
    return [np.array(e) for e in encodings]


def face_distance(face_encodings, face_to_compare):
    """
    Given a list of face encodings, compare them to a known face encoding and get a euclidean distance
    for each comparison face. The distance tells you how similar the faces are.

    :param face_encodings: List of face encodings to compare
    :param face_to_compare: A face encoding to compare against
    :return: A numpy ndarray with the distance for each face in the same order as the 'faces' array
    """
    if len(face_encodings) == 0:
        return np.empty((0))

    return np.linalg.norm(face_encodings - face_to_compare, axis=1)


def compare_faces(known_face_encodings, face_encoding_to_check, tolerance=0.6):
    """
    Compare a list of face encodings against a candidate encoding to see if they match.

    :param known_face_encodings: A list of known face encodings
    :param face_encoding_to_check: A single face encoding to compare against the list
    :param tolerance: How much distance between faces to consider it a match. Lower is more strict. 0.6 is typical best performance.
    :return: A list of True/False values indicating which known_face_encodings match the face encoding to check
    """
    return list(face_distance(known_face_encodings, face_encoding_to_check) <= tolerance)
