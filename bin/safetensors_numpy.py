"""Reads safetensors files with numpy alone, for the scripts beside it (the safetensors package is
on PyPI only, which these machines do not reach)."""
import json
import struct
from pathlib import Path

import numpy as np


def read_safetensors(path: Path) -> dict[str, tuple[str, np.ndarray]]:
    """Every tensor of one safetensors file as (dtype, array), BF16 as raw uint16."""
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    base = 8 + size
    dtypes = {"BF16": np.uint16, "F32": np.float32, "F16": np.float16}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in dtypes:
            raise SystemExit(f"{path}: tensor {name} is {info['dtype']}; only BF16, F16 and F32 are read")
        start, end = info["data_offsets"]
        array = np.frombuffer(data, dtype=dtypes[info["dtype"]], count=(end - start) // np.dtype(dtypes[info["dtype"]]).itemsize, offset=base + start)
        out[name] = (info["dtype"], array.reshape(info["shape"]))
    return out


def as_f32(dtype: str, a: np.ndarray) -> np.ndarray:
    if dtype == "BF16":
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float32)
