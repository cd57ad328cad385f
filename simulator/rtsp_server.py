"""A fake IP camera: serves H.264 Matroska files over RTSP (TCP or UDP) at their own frame rate.

Runs on the system python, which has GStreamer's bindings (Debian: python3-gi,
gir1.2-gst-rtsp-server-1.0); it imports nothing but the standard library and gi. Example:

    /usr/bin/python3 rtsp_server.py --port 8554 --stream cam1=a.mkv --stream cam2=b.mkv --loop

serves rtsp://127.0.0.1:8554/cam1 and /cam2, then prints `READY rtsp://127.0.0.1:8554/`.
Every client gets its own playback from the start of the file, without re-encoding.
"""

import argparse
import re
import signal
import sys
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

# Before any class below is defined: registering a GObject subclass needs GStreamer's types.
Gst.init(None)

STREAM_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class LoopingMedia(GstRtspServer.RTSPMedia):
    """A media that plays its file over and over, still paced at the file's frame rate.

    It loops with segment seeks on the demuxer: at the end of a segment the demuxer posts
    SEGMENT_DONE instead of sending EOS, and a non-flushing seek back to 0 continues the running
    time, so the sinks keep pacing and RTP timestamps keep increasing. (multifilesrc loop=true
    restarts the timestamps instead, and the stream then runs at hundreds of frames a second.)
    A client that seeks with a PLAY Range gets a plain seek and the media stops at the file's end;
    cameras are not seekable, so Skylark's clients never do that.
    """

    def do_prepared(self) -> None:
        # The first seek only switches the demuxer into segment mode; nothing has played yet.
        self._seek_demuxer(Gst.SeekFlags.FLUSH | Gst.SeekFlags.SEGMENT)

    def do_handle_message(self, message: Gst.Message) -> bool:
        if message.type == Gst.MessageType.SEGMENT_DONE:
            self._seek_demuxer(Gst.SeekFlags.SEGMENT)
            return True
        return GstRtspServer.RTSPMedia.do_handle_message(self, message)

    def _seek_demuxer(self, flags: Gst.SeekFlags) -> None:
        # Seeking the demuxer, not the pipeline: a pipeline seek goes to the media's network
        # sinks, which are not linked to the file until a client has set up its transport.
        demuxer = self.get_element().get_by_name("demux")
        if not demuxer.seek(
            1.0, Gst.Format.TIME, flags, Gst.SeekType.SET, 0, Gst.SeekType.NONE, -1
        ):
            print(f"rtsp_server: seek to the start failed ({flags})", file=sys.stderr, flush=True)


def media_factory(video: Path, loop: bool) -> GstRtspServer.RTSPMediaFactory:
    # The file's H.264 goes out as it is; rtph264pay repeats SPS/PPS every second so that a
    # client can start decoding at any keyframe.
    location = '"' + str(video).replace("\\", "\\\\").replace('"', '\\"') + '"'
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( filesrc location={location} ! matroskademux name=demux ! h264parse"
        " ! rtph264pay name=pay0 config-interval=1 pt=96 )"
    )
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
    if loop:
        factory.set_media_gtype(LoopingMedia)
    return factory


def parse_stream(value: str) -> tuple[str, Path]:
    name, sep, path = value.partition("=")
    if not sep or not STREAM_NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(f"expected NAME=PATH with NAME like cam1, got {value!r}")
    video = Path(path).resolve()
    if not video.is_file():
        raise argparse.ArgumentTypeError(f"no such video file: {video}")
    return name, video


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve video files as RTSP cameras.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8554, help="RTSP port; 0 picks a free one")
    parser.add_argument(
        "--stream", type=parse_stream, action="append", required=True, metavar="NAME=PATH",
        help="serve the Matroska H.264 file PATH at /NAME (repeatable)",
    )  # fmt: skip
    parser.add_argument("--loop", action="store_true", help="replay each file endlessly")
    args = parser.parse_args(argv)

    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for name, video in args.stream:
        mounts.add_factory(f"/{name}", media_factory(video, args.loop))
    if server.attach(None) == 0:
        print(f"rtsp_server: cannot listen on {args.host}:{args.port}", file=sys.stderr)
        return 1

    main_loop = GLib.MainLoop()
    # Python's own SIGINT handler would make PyGObject's MainLoop.run() put its handler over
    # GLib's; with the default disposition recorded, GLib's handler below stays in charge.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, main_loop.quit)
    print(f"READY rtsp://{args.host}:{server.get_bound_port()}/", flush=True)
    main_loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
