"""A copy of a video with one packet's bytes zeroed: corrupt data at a known place, as a
damaged download or a disk error leaves it."""

from __future__ import annotations

from pathlib import Path

import av


def with_packet_zeroed(whole: Path, damaged: Path, number: int) -> list[int]:
    """Write ``whole`` to ``damaged`` with packet ``number`` (in stream order, empty packets
    left out) zeroed; the numbers of the keyframe packets."""
    keyframes = []
    with av.open(str(whole)) as source, av.open(str(damaged), "w") as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for i, packet in enumerate(p for p in source.demux(source.streams.video[0]) if p.size):
            if packet.is_keyframe:
                keyframes.append(i)
            if i == number:
                zeroed = av.Packet(bytes(packet.size))
                zeroed.pts, zeroed.dts, zeroed.time_base = packet.pts, packet.dts, packet.time_base
                packet = zeroed
            packet.stream = stream
            out.mux(packet)
    return keyframes
