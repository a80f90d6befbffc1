"""Drives inferq's Open Inference Protocol endpoints with NVIDIA's own Triton HTTP client.

Started by test/oip/tritonclient.test.ts with the venv of scripts/install-tritonclient.sh:
    python triton_check.py HOST:PORT API_KEY IMAGE_PATH
Prints one JSON document: health, metadata, readiness, and for ocr-cls and ocr-rec the outputs
of an infer with JSON outputs and one with binary outputs (the image always travels binary:
tritonclient sends BYTES as JSON only when they are UTF-8 text), and echo fully in JSON.
"""

import json
import sys

import numpy as np
import tritonclient.http as httpclient


def outputs_of(result, names):
    out = {}
    for name in names:
        value = result.as_numpy(name).reshape(-1)[0]
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        out[name] = value if isinstance(value, str) else float(value)
    return out


def main():
    url, key, image_path = sys.argv[1], sys.argv[2], sys.argv[3]
    # tritonclient writes Inference-Header-Content-Length into the headers it is given: each
    # call gets its own dict.
    auth = {"Authorization": f"Bearer {key}"}
    client = httpclient.InferenceServerClient(url=url)
    report = {
        "live": client.is_server_live(headers=dict(auth)),
        "ready": client.is_server_ready(headers=dict(auth)),
        "server": client.get_server_metadata(headers=dict(auth)),
        "models": {},
    }
    with open(image_path, "rb") as f:
        image = f.read()
    for model, names in (("ocr-cls", ["label", "confidence"]), ("ocr-rec", ["text", "confidence"])):
        entry = {
            "metadata": client.get_model_metadata(model, headers=dict(auth)),
            "modelReady": client.is_model_ready(model, headers=dict(auth)),
        }
        for mode, binary in (("json", False), ("binary", True)):
            tensor = httpclient.InferInput("IMAGE", [1], "BYTES")
            tensor.set_data_from_numpy(np.array([image], dtype=np.object_), binary_data=True)
            wanted = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in names]
            result = client.infer(model, [tensor], outputs=wanted, headers=dict(auth))
            entry[mode] = outputs_of(result, names)
        report["models"][model] = entry
    text = httpclient.InferInput("INPUT", [1], "BYTES")
    text.set_data_from_numpy(np.array([b"hello triton"], dtype=np.object_), binary_data=False)
    echo = client.infer(
        "echo",
        [text],
        outputs=[httpclient.InferRequestedOutput(n, binary_data=False) for n in ("sha256", "bytes")],
        headers=dict(auth),
    )
    sha256 = echo.as_numpy("sha256").reshape(-1)[0]
    report["echo"] = {
        "sha256": sha256.decode() if isinstance(sha256, bytes) else str(sha256),
        "bytes": int(echo.as_numpy("bytes").reshape(-1)[0]),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
