"""Count what every truncation and every single-bit flip of a small saved checkpoint does on load:
refused (ModelFileError), the very same model, a silently different model, or another exception.

    PYTHONPATH=src python benchmarks/fuzz_model_files.py
"""

import collections
import json
import os
import tempfile

import numpy as np

import relunet as rn


def content(ck):
    opt = ck.optimizer
    state = opt.state_dict()
    return (ck.net.config(), [p.tobytes() for p in ck.net.parameters()], json.dumps(state["scalars"], sort_keys=True),
            {k: [a.tobytes() for a in v] for k, v in state["arrays"].items()}, json.dumps(ck.extra, sort_keys=True))


def outcome(path, original):
    try:
        ck = rn.load_checkpoint(path)
    except rn.ModelFileError:
        return "refused"
    except Exception as exc:  # what the fuzzing looks for
        return f"other: {type(exc).__name__}"
    return "same" if content(ck) == original else "different"


def main():
    net = rn.Network([2, 2, 1], seed=0)
    opt = rn.SGD(lr=0.05, momentum=0.5, schedule=rn.Adaptive(patience=1))
    X = np.linspace(-1, 1, 8).reshape(4, 2)
    rn.fit(net, X, X[:, :1] ** 2, optimizer=opt, epochs=2, batch_size=2, seed=0)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "m.safetensors")
        rn.save(net, path, optimizer=opt, extra={"note": "ok", "scale": [1.5, 2]})
        data = open(path, "rb").read()
        original = content(rn.load_checkpoint(path))
        counts = {"truncations": collections.Counter(), "bit flips": collections.Counter()}
        for cut in range(len(data)):
            open(path, "wb").write(data[:cut])
            counts["truncations"][outcome(path, original)] += 1
        for i in range(len(data)):
            for bit in range(8):
                bad = bytearray(data)
                bad[i] ^= 1 << bit
                open(path, "wb").write(bytes(bad))
                counts["bit flips"][outcome(path, original)] += 1
    print(f"file of {len(data)} bytes ({rn.__name__} from {os.path.dirname(rn.__file__)})")
    for kind, c in counts.items():
        print(f"{kind}: {sum(c.values())} — " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))


if __name__ == "__main__":
    main()
