"""One client shared by 16 threads running calls and streams.

For the AsyncClient the 16 threads hand their calls to one event loop, so its tasks run
them concurrently through one client.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from client_helpers import AnyClient

from ollama_wire.testing import CHAT_MODEL, EMBED_MODEL


@pytest.mark.ollama_server(num_parallel=4)
def test_sixteen_threads_share_one_client(client: AnyClient) -> None:
    expected = client.chat(CHAT_MODEL, [{"role": "user", "content": "q0"}]).message.content

    def work(i: int) -> tuple[str, str, int]:
        messages = [{"role": "user", "content": f"q{i % 4}"}]
        whole = client.chat(CHAT_MODEL, messages).message.content
        streamed = "".join(c.message.content for c in client.chat(CHAT_MODEL, messages,
                                                                  stream=True))
        with client.generate(CHAT_MODEL, "early", stream=True) as s:
            next(s)
        return whole, streamed, len(client.embed(EMBED_MODEL, f"text {i}").embeddings)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(work, range(48)))
    assert all(whole == streamed for whole, streamed, _ in results)
    assert all(n == 1 for _, _, n in results)
    assert results[0][0] == expected
    assert results[4][0] == expected
