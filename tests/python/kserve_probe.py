"""KServe's Python SDK against a running server, in a process of its own: kserve's generated
protobuf module and tritonclient.grpc's both register `inference.*` in protobuf's default pool, so
the two cannot be imported into one interpreter (test_kserve_readiness.py runs this script).

    kserve_probe.py health REST_URL GRPC_ADDR          → JSON [rest_ready, rest_live, grpc_ready, grpc_live]
                                                         (a REST readiness the SDK raises on: its status code)
    kserve_probe.py infer REST_URL GRPC_ADDR MODEL X.npy OUT.npz
                                                       → each client's outputs, and the metadata as JSON
"""
from __future__ import annotations

import asyncio
import json
import sys

import grpc as grpclib
import httpx
import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc
from kserve.protocol.rest.v2_datamodels import ModelMetadataResponse, ServerReadyResponse


async def health(rest_url: str, grpc_addr: str) -> list:
    rest = InferenceRESTClient(RESTConfig(protocol="v2"))
    g = InferenceGRPCClient(grpc_addr, retries=2)
    try:
        try:
            r_ready = await rest.is_server_ready(rest_url)
        except httpx.HTTPStatusError as e:
            # The V2 body must still parse as KServe's model.
            ServerReadyResponse.model_validate(e.response.json())
            r_ready = e.response.status_code
        return [r_ready, await rest.is_server_live(rest_url), await g.is_server_ready(), await g.is_server_live()]
    finally:
        await rest.close()
        await g.close()


async def infer(rest_url: str, grpc_addr: str, model: str, x: np.ndarray) -> tuple[dict, dict]:
    rest = InferenceRESTClient(RESTConfig(protocol="v2"))
    g = InferenceGRPCClient(grpc_addr, retries=2)
    out: dict[str, np.ndarray] = {}
    try:
        assert await rest.is_model_ready(rest_url, model) and await g.is_model_ready(model)
        for binary in (False, True):
            i = InferInput("input", list(x.shape), "FP32")
            i.set_data_from_numpy(x, binary_data=binary)
            res = await rest.infer(rest_url, InferRequest(model, [i]), model_name=model)
            assert res.model_name == model
            out.update({f"rest_{binary}_{o.name}": o.as_numpy() for o in res.outputs})
        i = InferInput("input", list(x.shape), "FP32")
        i.set_data_from_numpy(x)
        res = await g.infer(InferRequest(model, [i]))
        out.update({f"grpc_{o.name}": o.as_numpy() for o in res.outputs})
    finally:
        await rest.close()
        await g.close()
    md = ModelMetadataResponse.model_validate(httpx.get(f"{rest_url}/v2/models/{model}").json())
    with grpclib.insecure_channel(grpc_addr) as ch:
        gm = pb_grpc.GRPCInferenceServiceStub(ch).ModelMetadata(pb.ModelMetadataRequest(name=model))
    meta = {
        "rest": {"name": md.name, "versions": md.versions, "inputs": [[t.name, t.datatype, t.shape] for t in md.inputs],
                 "outputs": sorted(t.name for t in md.outputs)},
        "grpc": {"name": gm.name, "versions": list(gm.versions), "inputs": [[t.name, t.datatype, list(t.shape)] for t in gm.inputs],
                 "outputs": sorted(t.name for t in gm.outputs)},
    }
    return out, meta


if __name__ == "__main__":
    cmd, rest_url, grpc_addr = sys.argv[1:4]
    if cmd == "health":
        print(json.dumps(asyncio.run(health(rest_url, grpc_addr))))
    else:
        model, x_path, out_path = sys.argv[4:7]
        arrays, meta = asyncio.run(infer(rest_url, grpc_addr, model, np.load(x_path)))
        np.savez(out_path, **arrays)
        print(json.dumps(meta))
