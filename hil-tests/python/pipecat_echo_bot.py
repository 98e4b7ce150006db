"""A Pipecat bot built only from Pipecat's public pieces: FastAPI's WebSocket endpoint,
parse_telephony_websocket, TwilioFrameSerializer (base_url pointing at the SIM7600 bot's
API, so its automatic hang-up goes through the bot's Twilio REST subset) and
FastAPIWebsocketTransport, with an echo pipeline: the caller's audio goes back to the
caller. Each DTMF key arrives as Pipecat's InputDTMFFrame; `#` ends the pipeline (an
EndFrame), which hangs the call up. What happens is written to --log as JSON lines.

Usage: pipecat_echo_bot.py --port P --log FILE --base-url URL --account AC... --token T
"""

import argparse
import json
import time

import uvicorn
from fastapi import FastAPI, WebSocket

from pipecat.frames.frames import (
    EndFrame,
    InputAudioRawFrame,
    InputDTMFFrame,
    OutputAudioRawFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineParams, PipelineTask
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.runner.utils import parse_telephony_websocket
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)

args = argparse.ArgumentParser()
args.add_argument("--port", type=int, required=True)
args.add_argument("--log", required=True)
args.add_argument("--base-url", required=True)
args.add_argument("--account", required=True)
args.add_argument("--token", required=True)
args = args.parse_args()


def note(**fields):
    fields["t"] = time.time()
    with open(args.log, "a") as f:
        f.write(json.dumps(fields) + "\n")


class Echo(FrameProcessor):
    """The caller's audio back to the caller; keys logged; `#` ends the bot."""

    def __init__(self, end):
        super().__init__()
        self._end = end
        self._frames = 0

    async def process_frame(self, frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self._frames += 1
            if self._frames == 1:
                note(event="audio", sample_rate=frame.sample_rate)
            await self.push_frame(
                OutputAudioRawFrame(
                    audio=frame.audio,
                    sample_rate=frame.sample_rate,
                    num_channels=frame.num_channels,
                )
            )
        elif isinstance(frame, InputDTMFFrame):
            note(event="dtmf", key=str(frame.button.value))
            if str(frame.button.value) == "#":
                note(event="end_frame")
                await self._end()
        else:
            await self.push_frame(frame, direction)


app = FastAPI()


@app.websocket("/media")
async def media(websocket: WebSocket):
    await websocket.accept()
    transport_type, call_data = await parse_telephony_websocket(websocket)
    note(
        event="connected",
        transport=transport_type,
        stream_id=call_data["stream_id"],
        call_id=call_data["call_id"],
        body=dict(call_data.get("body", {}) or {}),
    )
    serializer = TwilioFrameSerializer(
        stream_sid=call_data["stream_id"],
        call_sid=call_data["call_id"],
        account_sid=args.account,
        auth_token=args.token,
        base_url=args.base_url,
    )
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=serializer,
        ),
    )
    task_box = {}

    async def end():
        await task_box["task"].queue_frame(EndFrame())

    pipeline = Pipeline([transport.input(), Echo(end), transport.output()])
    task = PipelineTask(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000),
    )
    task_box["task"] = task

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(transport, client):
        note(event="disconnected")
        await task.cancel()

    await PipelineRunner(handle_sigint=False).run(task)
    note(event="finished")


note(event="listening")
uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
