"""A gRPC proxy in front of a real Temporal server that refuses what Temporal Cloud
refuses a worker's API key: changing the namespace's search attributes. Every other call
is passed on as it is (Temporal's API is unary calls only), and every call's method is
recorded, so a test can say what a client asked for. Calls named in `delays` are held that
many seconds first, as a slow server would, so a test can stop a client midway."""

import asyncio
from collections.abc import Iterable, Mapping

import grpc

ADD_SEARCH_ATTRIBUTES = "/temporal.api.operatorservice.v1.OperatorService/AddSearchAttributes"
GET_HISTORY = "/temporal.api.workflowservice.v1.WorkflowService/GetWorkflowExecutionHistory"


class RefusingProxy:
    def __init__(
        self,
        upstream: str,
        refused: Iterable[str] = (ADD_SEARCH_ATTRIBUTES,),
        delays: Mapping[str, float] | None = None,
    ) -> None:
        self.upstream = upstream
        self.refused = set(refused)
        self.delays = dict(delays or {})
        self.calls: list[str] = []
        self._channel = grpc.aio.insecure_channel(upstream)
        self._server = grpc.aio.server()
        self._server.add_generic_rpc_handlers([_Forward(self)])
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"

    async def start(self) -> "RefusingProxy":
        await self._server.start()
        return self

    async def stop(self) -> None:
        await self._server.stop(grace=None)
        await self._channel.close()


class _Forward(grpc.GenericRpcHandler):
    def __init__(self, proxy: RefusingProxy) -> None:
        self.proxy = proxy

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        proxy = self.proxy
        upstream = proxy._channel.unary_unary(method)  # bytes in, bytes out

        async def forward(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            proxy.calls.append(method)
            if method in proxy.refused:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, "Request unauthorized.")
            if method in proxy.delays:
                await asyncio.sleep(proxy.delays[method])
            metadata = [(k, v) for k, v in context.invocation_metadata() if not k.startswith((":", "grpc-"))]
            timeout = context.time_remaining()
            try:
                return await upstream(request, metadata=metadata, timeout=timeout)
            except grpc.aio.AioRpcError as err:
                await context.abort(err.code(), err.details() or "")
                raise  # abort raises; this is never reached

        return grpc.unary_unary_rpc_method_handler(forward)
