"""Two Python threads against one: faceapp.face_recognition releases the GIL while it detects, finds landmarks
and encodes, so two threads should do about twice the work of one on two cores.

    PYTHONPATH=build/python python3 bench/python_threads.py [--calls 24] [--image tests/data/fr_test_images/obama.jpg]

Prints, for face_encodings with known boxes (landmarks + encoder) and for face_encodings from the photo alone
(HOG detection too), the calls a second on one thread and on two, and their ratio. HOG alone already scans its
pyramid on every core when one thread calls it, so the whole-photo ratio is smaller by design. "cores busy" is
the process's CPU seconds per second: near 2 with two threads means the GIL was not in the way, whatever else
the machine was doing. The control runs the known-box case in two processes, which share no GIL: on a busy
machine it shows how much a second core could give at all.
"""
import argparse
import multiprocessing
import os
import threading
import time

import faceapp.face_recognition as face_recognition

HERE = os.path.dirname(os.path.abspath(__file__))


def rate(fn, calls, threads):
    per = calls // threads
    barrier = threading.Barrier(threads + 1)

    def work():
        barrier.wait()
        for _ in range(per):
            fn()

    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    barrier.wait()
    start, cpu0 = time.perf_counter(), time.process_time()
    for t in ts:
        t.join()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    return per * threads / wall, cpu / wall


def _process_rate(image, calls, queue):
    img = face_recognition.load_image_file(image)
    boxes = face_recognition.face_locations(img)
    face_recognition.face_encodings(img, boxes)
    queue.get()  # start together
    start = time.perf_counter()
    for _ in range(calls):
        face_recognition.face_encodings(img, boxes)
    queue.put(calls / (time.perf_counter() - start))


def two_processes(image, calls):
    """The control: the same work in two processes, which share no GIL. If two processes gain no more than two
    threads, what the threads lack is free cores, not the GIL."""
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    ps = [ctx.Process(target=_process_rate, args=(image, calls // 2, q)) for _ in range(2)]
    for p in ps:
        p.start()
    time.sleep(8)  # both have loaded their models
    q.put(None)
    q.put(None)
    for p in ps:
        p.join()
    rates = [q.get() for _ in range(2)]
    return sum(rates)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=24)
    p.add_argument("--image", default=os.path.join(HERE, "..", "tests", "data", "fr_test_images", "obama.jpg"))
    args = p.parse_args()
    img = face_recognition.load_image_file(args.image)
    boxes = face_recognition.face_locations(img)
    cases = {
        "face_encodings(img, known_face_locations)": lambda: face_recognition.face_encodings(img, boxes),
        "face_encodings(img)": lambda: face_recognition.face_encodings(img),
    }
    print(f"{os.cpu_count()} cores, {args.calls} calls per measurement, {os.path.basename(args.image)} "
          f"{img.shape[1]}x{img.shape[0]}")
    for name, fn in cases.items():
        fn()  # models loaded, each thread's engine made outside the timing
        one, cpu1 = rate(fn, args.calls, 1)
        two, cpu2 = rate(fn, args.calls, 2)
        print(f"{name:45s} 1 thread {one:6.2f}/s (cores busy {cpu1:.2f})   2 threads {two:6.2f}/s "
              f"(cores busy {cpu2:.2f})   ratio {two / one:.2f}")
        if name.startswith("face_encodings(img, known"):
            procs = two_processes(args.image, args.calls)
            print(f"{'  the same in 2 processes (control)':45s} {procs:6.2f}/s   ratio {procs / one:.2f}")


if __name__ == "__main__":
    main()
