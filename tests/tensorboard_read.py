#!/usr/bin/env python3
"""Read a TensorBoard log directory with TensorBoard's own reader and print what it sees.

Usage:
    python tensorboard_read.py [--strict] DIR

DIR is a run directory holding `*tfevents*` files (or one event file). The directory is loaded
with `tensorboard.backend.event_processing.event_accumulator.EventAccumulator` (keeping every
value: size_guidance 0 for scalars, histograms and tensors), and ONE JSON object goes to stdout:

    {"scalars":    {tag: [[step, value], ...]},
     "histograms": {tag: [{"step", "min", "max", "num", "sum", "sum_squares",
                           "bucket_limit": [...], "bucket": [...]}, ...]},
     "other":      {kind: [tag, ...]}}

Each tag's points are in the order the reader holds them (file order). "other" names whatever
else the reader found (images, audio, tensors no plugin fallback below decoded, run metadata,
a graph or meta graph as `["graph"]`), so that a caller can insist there is nothing but
scalars and histograms; kinds with nothing are left out. ("distributions", which TensorBoard
derives from the histograms, are not listed.)

Numbers are exact: a scalar is the f32 the file holds (as a Python float, so widened exactly
to f64), a histogram's fields the f64 it holds, and Python writes each float as the shortest
text that reads back to the same double. Non-finite numbers are written as the strings "NaN",
"Infinity" and "-Infinity" so that the output is strict JSON.

EventAccumulator reads `simple_value` and `histo` summary values directly as Scalars and
Histograms. Should a TensorBoard version instead migrate them to tensors (as the plugin loader,
`plugin_event_accumulator`, does), this script falls back to reading Tensors whose summary
metadata names the `scalars` or `histograms` plugin, decoding them with
`tensor_util.make_ndarray` (for such histograms, `sum` and `sum_squares` are null).

What TensorBoard does with a corrupt record: its record reader
(`tensorboard/compat/tensorflow_stub/pywrap_tensorflow.py`, `PyRecordReader_New.GetNext`)
raises `DataLossError` on a length-CRC or payload-CRC mismatch, and
`event_file_loader.RawEventFileLoader.Load` catches `DataLossError` (to wait for the rest of a
record still being written) and stops reading that file there, logging only at debug level. So
a corrupt record silently hides itself AND every record after it in that file; nothing is raised.
(The record is also never skipped on later reloads: the reader re-reads the same bytes.)

--strict reads every event file first with TensorBoard's own `PyRecordReader_New` and, if any
record fails (CRC mismatch, truncation) or is not an Event protocol buffer, prints
`FILE: record N at byte offset K: MESSAGE` to stderr and exits 2 without printing JSON. It also
exits 2 when DIR holds no event file.

Exit status: 0 on success, 2 on a --strict failure, 3 if the `tensorboard` package cannot be
imported (install it in a virtual environment: `python3 -m venv VENV && VENV/bin/pip install
tensorboard`, then set MAKEMORE_TB_PYTHON=VENV/bin/python (`cargo xtask setup` does both)). TensorFlow is not needed.

Verified against tensorboard 2.21.0 (protobuf 7.36.2, numpy 2.4.6, Python 3.11), without
TensorFlow installed.
"""

import argparse
import json
import math
import os
import sys

INSTALL_HINT = (
    "tensorboard_read.py: cannot import the `tensorboard` package; install it with "
    "`python3 -m venv VENV && VENV/bin/pip install tensorboard`, "
    "then set MAKEMORE_TB_PYTHON=VENV/bin/python (`cargo xtask setup` does both)"
)

try:
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.backend.event_processing import io_wrapper
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.tensorflow_stub import errors as tb_errors
    from tensorboard.compat.tensorflow_stub import pywrap_tensorflow
    from tensorboard.util import tensor_util
except ImportError as e:  # pragma: no cover - depends on the environment
    print(f"{INSTALL_HINT} ({e})", file=sys.stderr)
    sys.exit(3)


def _num(x):
    """A float for JSON: non-finite values become strings."""
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def _event_files(path):
    """The event files TensorBoard would read under `path`, in the order it reads them."""
    if not os.path.isdir(path):
        return [path] if io_wrapper.IsSummaryEventsFile(path) else []
    return sorted(
        os.path.join(path, name)
        for name in os.listdir(path)
        if io_wrapper.IsSummaryEventsFile(os.path.join(path, name))
        and os.path.isfile(os.path.join(path, name))
    )


def strict_check(path):
    """Reads every record of every event file with TensorBoard's record reader.

    Returns None if all is well, else a one-line message naming the file and the failure.
    """
    files = _event_files(path)
    if not files:
        return f"{path}: no event files (names containing 'tfevents')"
    for name in files:
        reader = pywrap_tensorflow.PyRecordReader_New(name, 0, None, None)
        index, offset = 0, 0
        while True:
            try:
                reader.GetNext()
            except tb_errors.OutOfRangeError:
                break
            except tb_errors.DataLossError as e:
                message = str(e.message)
                if message.startswith(name):  # TensorBoard's message repeats the name
                    message = message[len(name) :].strip()
                return f"{name}: record {index} at byte offset {offset}: {message}"
            record = reader.record()
            try:
                event_pb2.Event.FromString(record)
            except Exception as e:  # protobuf's DecodeError, by whatever name
                return (
                    f"{name}: record {index} at byte offset {offset}: "
                    f"not an Event protocol buffer ({e})"
                )
            index += 1
            offset += 8 + 4 + len(record) + 4
    return None


def _histogram_from_proto(step, h):
    return {
        "step": step,
        "min": _num(h.min),
        "max": _num(h.max),
        "num": _num(h.num),
        "sum": _num(h.sum),
        "sum_squares": _num(h.sum_squares),
        "bucket_limit": [_num(x) for x in h.bucket_limit],
        "bucket": [_num(x) for x in h.bucket],
    }


def _histogram_from_tensor(step, buckets):
    """A histogram plugin tensor ([k, 3] of left edge, right edge, count) in our shape."""
    buckets = [list(map(float, row)) for row in buckets.reshape(-1, 3)]
    counts = [row[2] for row in buckets]
    return {
        "step": step,
        "min": _num(buckets[0][0]) if buckets else 0.0,
        "max": _num(buckets[-1][1]) if buckets else 0.0,
        "num": _num(sum(counts)),
        "sum": None,
        "sum_squares": None,
        "bucket_limit": [_num(row[1]) for row in buckets],
        "bucket": [_num(c) for c in counts],
    }


def load(path):
    acc = event_accumulator.EventAccumulator(
        path, size_guidance={"scalars": 0, "histograms": 0, "tensors": 0}
    )
    acc.Reload()
    tags = acc.Tags()
    scalars, histograms, other = {}, {}, {}
    for tag in tags.get("scalars", []):
        scalars[tag] = [[e.step, _num(e.value)] for e in acc.Scalars(tag)]
    for tag in tags.get("histograms", []):
        histograms[tag] = [
            _histogram_from_proto(e.step, e.histogram_value) for e in acc.Histograms(tag)
        ]
    # Fallback for readers that migrate simple_value / histo to plugin tensors.
    for tag in tags.get("tensors", []):
        try:
            plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
        except KeyError:
            plugin = ""
        if plugin == "scalars" and tag not in scalars:
            scalars[tag] = [
                [e.step, _num(tensor_util.make_ndarray(e.tensor_proto).item())]
                for e in acc.Tensors(tag)
            ]
        elif plugin == "histograms" and tag not in histograms:
            histograms[tag] = [
                _histogram_from_tensor(e.step, tensor_util.make_ndarray(e.tensor_proto))
                for e in acc.Tensors(tag)
            ]
        else:
            other.setdefault("tensors", []).append(tag)
    for kind in ("images", "audio", "run_metadata"):
        if tags.get(kind):
            other[kind] = sorted(tags[kind])
    for kind in ("graph", "meta_graph"):
        if tags.get(kind):
            other[kind] = [kind]
    return {"scalars": scalars, "histograms": histograms, "other": other}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="run directory (or one event file)")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 2) if any record fails TensorBoard's CRC checks",
    )
    args = parser.parse_args(argv)
    if args.strict:
        problem = strict_check(args.dir)
        if problem is not None:
            print(f"tensorboard_read.py --strict: {problem}", file=sys.stderr)
            return 2
    json.dump(load(args.dir), sys.stdout, sort_keys=True, allow_nan=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
