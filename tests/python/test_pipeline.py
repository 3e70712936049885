"""faceapp's Python pipeline: stages composed with |, StageError, and the Gallery.

Run: PYTHONPATH=build/python python3 tests/python/test_pipeline.py
"""
import os
import tempfile
import unittest

import numpy as np

import faceapp
from faceapp import face_recognition as fr

DATA = os.environ.get("FACEAPP_TEST_DATA") or os.path.join(os.path.dirname(__file__), "..", "data")
IMAGES = os.path.join(DATA, "fr_test_images")


def path(name):
    return os.path.join(IMAGES, name)


class Pipeline(unittest.TestCase):
    def test_read_detect_gives_face_recognitions_box(self):
        faces = (faceapp.read | faceapp.detect)(path("obama.jpg"))
        self.assertIsInstance(faces, faceapp.Faces)
        self.assertEqual([f.box for f in faces], [(142, 617, 409, 349)])
        self.assertEqual(faces[0].detector, "hog")
        self.assertEqual(faces.source, path("obama.jpg"))

    def test_detect_cnn(self):
        for stage in (faceapp.detect("cnn"), faceapp.detect("cnn", 0), faceapp.detect(model="cnn")):
            faces = (faceapp.read | stage)(path("obama.jpg"))
            self.assertEqual(len(faces), 1)
            self.assertEqual(faces[0].detector, "cnn")
            for got, want in zip(faces[0].box, (144, 608, 389, 363)):  # face_recognition's cnn case, +-25 px
                self.assertAlmostEqual(got, want, delta=25)
        with self.assertRaises(ValueError):
            (faceapp.read | faceapp.detect("mmod"))(path("obama.jpg"))

    def test_composition_is_associative_and_equals_calling_in_turn(self):
        a = (faceapp.read | faceapp.detect) | faceapp.encode
        b = faceapp.read | (faceapp.detect | faceapp.encode)
        c = faceapp.encode(faceapp.detect(faceapp.read(path("obama.jpg"))))
        ea, eb = a(path("obama.jpg"))[0].encoding, b(path("obama.jpg"))[0].encoding
        self.assertTrue(np.array_equal(ea, eb))
        self.assertTrue(np.array_equal(ea, c[0].encoding))

    def test_pipeline_encodings_equal_face_recognitions(self):
        ours = (faceapp.read | faceapp.encode)(path("obama2.jpg"))[0].encoding
        theirs = fr.face_encodings(fr.load_image_file(path("obama2.jpg")), model="large")[0]
        self.assertLess(np.linalg.norm(ours - theirs), 1e-6)

    def test_fit_keeps_boxes_in_the_coordinates_as_read(self):
        faces = (faceapp.read | faceapp.fit(600) | faceapp.detect)(path("obama.jpg"))
        self.assertEqual(len(faces), 1)
        for got, want in zip(faces[0].box, (142, 617, 409, 349)):
            self.assertAlmostEqual(got, want, delta=25)  # the photo as read, not the 600 px one (half these)
        self.assertEqual(faces.image.height, 600)

    def test_landmarks_then_encode(self):
        faces = (faceapp.read | faceapp.detect | faceapp.landmarks | faceapp.encode)(path("obama.jpg"))
        self.assertIn(len(faces[0].landmarks), (5, 68))
        self.assertEqual(faces[0].encoding.shape, (128,))

    def test_a_mismatch_is_refused_at_composition_naming_both(self):
        with self.assertRaises(TypeError) as cm:
            faceapp.detect | faceapp.read
        self.assertIn("detect", str(cm.exception))
        self.assertIn("read", str(cm.exception))

    def test_errors_are_stage_errors_with_stage_and_input(self):
        pipe = faceapp.read | faceapp.encode
        with self.assertRaises(faceapp.StageError) as cm:
            pipe(path("nobody.jpg"))
        self.assertEqual(cm.exception.stage, "read")
        self.assertEqual(cm.exception.input, path("nobody.jpg"))
        self.assertEqual(cm.exception.code, "not_found")
        with self.assertRaises(faceapp.StageError) as cm:
            (faceapp.read | faceapp.detect(9))(path("obama.jpg"))
        self.assertEqual(cm.exception.stage, "detect")

    def test_bytes_and_a_name(self):
        with open(path("obama.jpg"), "rb") as f:
            data = f.read()
        faces = (faceapp.read | faceapp.detect)((data, "upload.jpg"))
        self.assertEqual(faces.source, "<bytes: upload.jpg>")
        with self.assertRaises(faceapp.StageError) as cm:
            faceapp.read((data[:1000], "cut.jpg"))
        self.assertEqual(cm.exception.input, "<bytes: cut.jpg>")

    def test_distance_to_an_encoding_and_compare(self):
        obama = (faceapp.read | faceapp.encode)(path("obama.jpg"))[0].encoding
        pipe = faceapp.read | faceapp.encode | faceapp.distance_to(obama)
        same = pipe(path("obama2.jpg"))[0]
        other = pipe(path("biden.jpg"))[0]
        self.assertTrue(same.match)
        self.assertFalse(other.match)
        self.assertLess(same.distance, 0.6)
        strict = (pipe | faceapp.compare(0.1))(path("obama2.jpg"))[0]
        self.assertFalse(strict.match)


class TheGil(unittest.TestCase):
    """A call that detects, finds landmarks or encodes lets other Python threads run meanwhile."""

    def longest_pause_beside(self, fn):
        import threading
        import time
        worker = threading.Thread(target=fn)
        start = time.perf_counter()
        stamps = [start]
        worker.start()
        while worker.is_alive():
            stamps.append(time.perf_counter())
        stamps.append(time.perf_counter())  # a call that held the GIL to its end shows as this last gap
        gaps = [b - a for a, b in zip(stamps, stamps[1:])]
        return max(gaps), stamps[-1] - start

    def test_the_measure_sees_a_call_that_holds_the_gil(self):
        # Multiplying big integers holds the GIL throughout: the measure must see this thread stand still.
        pause, took = self.longest_pause_beside(lambda: (7 ** 400000) * (11 ** 400000))
        self.assertGreater(pause, took / 3)

    def test_other_threads_run_while_it_works(self):
        img = fr.load_image_file(path("obama.jpg"))
        boxes = fr.face_locations(img)
        cases = {
            "face_locations": lambda: fr.face_locations(img),
            "face_landmarks": lambda: [fr.face_landmarks(img, boxes) for _ in range(8)],
            "face_encodings": lambda: [fr.face_encodings(img, boxes) for _ in range(8)],
            "the pipeline": lambda: (faceapp.detect | faceapp.encode)(faceapp.Image.from_array(img)),
        }
        for name, fn in cases.items():
            with self.subTest(name):
                pause, took = self.longest_pause_beside(fn)
                # Holding the GIL would stop this thread for the whole call; the switch interval is 5 ms.
                self.assertLess(pause, took / 3, f"{name}: this thread stood still {pause:.3f} s of {took:.3f} s")


class GalleryTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        enc = faceapp.read | faceapp.encode
        cls.e = {n: enc(path(n + ".jpg"))[0].encoding for n in ("obama", "obama2", "biden")}

    def test_nearest_and_top_k(self):
        g = faceapp.Gallery()
        self.assertIsNone(g.nearest(self.e["obama"]))
        g.add("obama", self.e["obama"])
        g.add("biden", self.e["biden"])
        self.assertEqual(len(g), 2)
        name, d = g.nearest(self.e["obama2"])
        self.assertEqual(name, "obama")
        self.assertAlmostEqual(d, fr.face_distance([self.e["obama"]], self.e["obama2"])[0], places=5)
        top = g.top_k(self.e["obama2"], 5)
        self.assertEqual([n for n, _ in top], ["obama", "biden"])
        self.assertLess(top[0][1], top[1][1])

    def test_save_and_load(self):
        g = faceapp.Gallery()
        g.add("obama", self.e["obama"])
        g.add("biden", self.e["biden"])
        with tempfile.TemporaryDirectory() as d:
            f = os.path.join(d, "people.npz")
            g.save(f)
            h = faceapp.Gallery.load(f)
        self.assertEqual(h.names(), ["obama", "biden"])
        self.assertTrue(np.array_equal(h.encodings(), g.encodings()))
        self.assertEqual(h.nearest(self.e["obama2"])[0], "obama")

    def test_distance_to_a_gallery_names_the_person(self):
        g = faceapp.Gallery()
        g.add("obama", self.e["obama"])
        g.add("biden", self.e["biden"])
        face = (faceapp.read | faceapp.encode | faceapp.distance_to(g))(path("obama3.jpg"))[0]
        self.assertEqual(face.name, "obama")
        self.assertTrue(face.match)


if __name__ == "__main__":
    unittest.main()
