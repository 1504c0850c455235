#!/usr/bin/python3
"""tfevents_read.py LOGDIR — reads the TensorBoard event files under LOGDIR as TensorBoard does,
with other code than ctrain's: the TFRecord framing and its masked CRC-32C checked with crcmod,
each Event decoded by Google's protobuf runtime from TensorBoard's field numbers (event.proto,
summary.proto; declared here, not taken from ctrain's tensorboard.proto).

Prints, for each run (a folder holding files with "tfevents" in their names) and tag, the
values TensorBoard would show: files read in name order, and a SessionLog START at step S
dropping the values read before at steps >= S (TensorBoard's purge of orphaned data); a
second value at a step that no START dropped is an error (TensorBoard would draw both):
    RUN TAG STEP VALUE
and a line "RUN files N version V" per run; a histogram's VALUE is "histo NUM MIN MAX SUM
SUM_SQUARES BUCKETS" (its buckets checked to count NUM values under limits rising to MAX). Exits 1, naming the file, on any malformed record.
Exit 2: crcmod or protobuf missing (the caller prints SKIP)."""
import os
import struct
import sys

try:
    import crcmod.predefined
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError as e:  # pragma: no cover
    print(f"missing: {e.name}", file=sys.stderr)
    sys.exit(2)

F = descriptor_pb2.FieldDescriptorProto


def build_event_class():
    fd = descriptor_pb2.FileDescriptorProto(name="tb_subset.proto", package="tb", syntax="proto3")
    histo = fd.message_type.add(name="HistogramProto")
    for i, name in enumerate(["min", "max", "num", "sum", "sum_squares"]):
        histo.field.add(name=name, number=i + 1, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
    for number, name in ((6, "bucket_limit"), (7, "bucket")):
        f = histo.field.add(name=name, number=number, type=F.TYPE_DOUBLE, label=F.LABEL_REPEATED)
        f.options.packed = True
    summary = fd.message_type.add(name="Summary")
    value = summary.nested_type.add(name="Value")
    value.field.add(name="tag", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    value.field.add(name="simple_value", number=2, type=F.TYPE_FLOAT, label=F.LABEL_OPTIONAL,
                    oneof_index=0)
    value.field.add(name="histo", number=5, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                    type_name=".tb.HistogramProto", oneof_index=0)
    value.oneof_decl.add(name="value")
    summary.field.add(name="value", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                      type_name=".tb.Summary.Value")
    slog = fd.message_type.add(name="SessionLog")
    slog.field.add(name="status", number=1, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
    ev = fd.message_type.add(name="Event")
    ev.field.add(name="wall_time", number=1, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
    ev.field.add(name="step", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    ev.oneof_decl.add(name="what")
    ev.field.add(name="file_version", number=3, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL,
                 oneof_index=0)
    ev.field.add(name="summary", number=5, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                 type_name=".tb.Summary", oneof_index=0)
    ev.field.add(name="session_log", number=7, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                 type_name=".tb.SessionLog", oneof_index=0)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    desc = pool.FindMessageTypeByName("tb.Event")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


CRC = crcmod.predefined.mkCrcFun("crc-32c")


def masked(data):
    c = CRC(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def records(path):
    with open(path, "rb") as f:
        data = f.read()
    off = 0
    while off < len(data):
        if len(data) - off < 12:
            raise ValueError(f"{path}: a torn record header at byte {off}")
        head = data[off:off + 8]
        (n,) = struct.unpack("<Q", head)
        (hcrc,) = struct.unpack("<I", data[off + 8:off + 12])
        if hcrc != masked(head):
            raise ValueError(f"{path}: the length's CRC is wrong at byte {off}")
        if len(data) - off < 16 + n:
            raise ValueError(f"{path}: a torn record at byte {off}")
        payload = data[off + 12:off + 12 + n]
        (pcrc,) = struct.unpack("<I", data[off + 12 + n:off + 16 + n])
        if pcrc != masked(payload):
            raise ValueError(f"{path}: the payload's CRC is wrong at byte {off}")
        yield payload
        off += 16 + n


def histo_text(path, tag, h):
    """A histogram checked (its buckets count num values; limits rising to max; min <= max)
    as "histo NUM MIN MAX SUM SUM_SQUARES BUCKETS"."""
    if len(h.bucket) != len(h.bucket_limit) or not h.bucket:
        raise ValueError(f"{path}: {tag}: {len(h.bucket)} buckets, {len(h.bucket_limit)} limits")
    if sum(h.bucket) != h.num or any(c < 0 for c in h.bucket):
        raise ValueError(f"{path}: {tag}: buckets count {sum(h.bucket)}, num is {h.num}")
    lim = list(h.bucket_limit)
    if lim != sorted(lim) or lim[-1] != h.max or h.min > h.max:
        raise ValueError(f"{path}: {tag}: limits {lim[:3]}... not rising to max {h.max}")
    return f"histo {h.num:.0f} {h.min:.9g} {h.max:.9g} {h.sum:.9g} {h.sum_squares:.9g} {len(lim)}"


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    Event = build_event_class()
    runs = {}
    for root, _, files in os.walk(sys.argv[1]):
        names = sorted(f for f in files if "tfevents" in f)
        if names:
            runs[os.path.relpath(root, sys.argv[1])] = [os.path.join(root, f) for f in names]
    for run in sorted(runs):
        series, versions = {}, set()
        for path in runs[run]:
            first = True
            for payload in records(path):
                ev = Event()
                ev.ParseFromString(payload)
                what = ev.WhichOneof("what")
                if first and what != "file_version":
                    raise ValueError(f"{path}: the first event is not the file version")
                first = False
                if what == "file_version":
                    versions.add(ev.file_version)
                elif what == "session_log" and ev.session_log.status == 1:  # START
                    for tag in series:
                        series[tag] = {s: v for s, v in series[tag].items() if s < ev.step}
                elif what == "summary":
                    if ev.wall_time <= 1e9:
                        raise ValueError(f"{path}: wall_time {ev.wall_time} is not a time")
                    for v in ev.summary.value:
                        if ev.step in series.setdefault(v.tag, {}):  # two points at one step
                            raise ValueError(f"{path}: {v.tag} at step {ev.step} again, "
                                             f"not dropped by a SessionLog START before it")
                        if v.WhichOneof("value") == "histo":
                            series[v.tag][ev.step] = histo_text(path, v.tag, v.histo)
                        else:
                            series[v.tag][ev.step] = f"{v.simple_value:.9g}"
        print(f"{run} files {len(runs[run])} version {','.join(sorted(versions))}")
        for tag in sorted(series):
            for step in sorted(series[tag]):
                print(f"{run} {tag} {step} {series[tag][step]}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ValueError as e:
        print(f"tfevents_read: {e}", file=sys.stderr)
        sys.exit(1)
