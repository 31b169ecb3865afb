"""Fixtures for the Bitrix24 provider tests: a sandbox portal reached in-process over HTTP semantics."""

from __future__ import annotations

import httpx
import pytest
from b24p_rig import Portal


@pytest.fixture
def portal(tmp_path):
    p = Portal(tmp_path)
    yield p
    p.close()


@pytest.fixture
def lossy():
    """A transport factory that loses the answer of chosen requests after the portal processed them."""

    class LoseAnswers(httpx.BaseTransport):
        def __init__(self, inner, lose):
            self.inner, self.lose, self.seen = inner, lose, 0

        def handle_request(self, request):
            response = self.inner.handle_request(request)
            self.seen += 1
            if self.lose(self.seen, request):
                raise httpx.ReadError("connection reset after the request was processed", request=request)
            return response

    return LoseAnswers
