"""Drives inferq's Open Inference Protocol endpoints with KServe's own v2 REST client.

Started by test/oip/kserve.e2e.test.ts with the venv of scripts/install-kserve.sh:
    python kserve_check.py BASE_URL API_KEY IMAGE_PATH
Prints one JSON document: health and readiness as kserve's InferenceRESTClient reads them, and
for ocr-cls and ocr-rec the outputs of an infer with the image as a binary BYTES tensor (the
client's InferRequest.to_rest binary-data form), once with JSON outputs and once with binary
ones; echo fully in JSON (a dict body); and the refusal of an unknown model as the client
raises it.
"""

import asyncio
import json
import sys

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput


def value_of(output):
    value = output.as_numpy().reshape(-1)[0]
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return value if isinstance(value, str) else float(value)


async def main():
    base, key, image_path = sys.argv[1], sys.argv[2], sys.argv[3]
    auth = {"Authorization": f"Bearer {key}"}
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
    report = {
        "live": await client.is_server_live(base, headers=auth),
        "ready": await client.is_server_ready(base, headers=auth),
        "models": {},
    }
    with open(image_path, "rb") as f:
        image = f.read()
    for model, names in (("ocr-cls", ["label", "confidence"]), ("ocr-rec", ["text", "confidence"])):
        entry = {"modelReady": await client.is_model_ready(base, model, headers=auth)}
        for mode, binary in (("json", False), ("binary", True)):
            tensor = InferInput("IMAGE", [1], "BYTES")
            tensor.set_data_from_numpy(np.array([image], dtype=np.object_), binary_data=True)
            request = InferRequest(
                model,
                [tensor],
                request_outputs=[RequestedOutput(n, {"binary_data": binary}) for n in names],
            )
            result = await client.infer(base, request, model_name=model, headers=dict(auth))
            entry[mode] = {n: value_of(result.get_output_by_name(n)) for n in names}
        report["models"][model] = entry
    echo = await client.infer(
        base,
        {"inputs": [{"name": "INPUT", "datatype": "BYTES", "shape": [1], "data": ["hello kserve"]}]},
        model_name="echo",
        headers=dict(auth),
    )
    report["echo"] = {o.name: value_of(o) for o in echo.outputs}
    try:
        await client.infer(base, {"inputs": []}, model_name="no-such-model", headers=dict(auth))
        report["unknownModelError"] = None
    except Exception as err:  # the client raises httpx.HTTPStatusError with the server's words
        report["unknownModelError"] = str(err)
    await client.close()
    print(json.dumps(report))


asyncio.run(main())
