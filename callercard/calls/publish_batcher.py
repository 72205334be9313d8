"""Card events that wait for Centrifugo go to it together (``callercard.together``): one request for all
that piled up, in order, each failing on its own. A lone event goes as a plain publish."""

from __future__ import annotations

from cent import AsyncClient

from callercard import centrifugo
from callercard.together import Together


class PublishBatcher(Together[centrifugo.Publication]):
    def __init__(self, client: AsyncClient) -> None:
        super().__init__("card_events", self._publish)
        self._client = client

    async def publish(self, publication: centrifugo.Publication) -> None:
        """Published once this returns; raises ``CentError`` subclasses (its sender decides whether to retry)."""
        await self(publication)

    async def _publish(self, publications: list[centrifugo.Publication]) -> list[BaseException | None]:
        if len(publications) > 1:
            return list(await centrifugo.publish_many(self._client, publications))
        [publication] = publications
        await centrifugo.publish(self._client, channel=publication.channel, data=publication.data,
                                 idempotency_key=publication.idempotency_key)
        return [None]
