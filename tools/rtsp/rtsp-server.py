#!/usr/bin/python3
"""Vigil's RTSP test server: Debian's GStreamer RTSP server serving test patterns and looped H.264 files.

Run with /usr/bin/python3 (Debian's python3-gi). Each --mount NAME=SOURCE adds rtsp://HOST:PORT/NAME:
  SOURCE = pattern:<videotestsrc pattern>[@WxH[@FPS]]  a live H.264 test pattern (smpte, ball, snow, ...)
  SOURCE = file:<path.mp4|.mkv|.ts>                    a video file, played in real time and looped forever
  SOURCE = h264loop:<path.mp4>                          an H.264 MP4 looped without re-encoding (its own GOP)
  SOURCE = launch:<gst-launch description>               anything else, e.g. an audio-only stream
Clients may use RTSP over TCP (interleaved) or UDP. With VIGIL_RTSP_AUTH=USER:PASSWORD in the environment
(not an argument, so the password is not in the process list) every mount asks for RTSP Basic
authentication, like a real camera; a client without them gets 401 Unauthorized. Prints "READY <port>" on
stdout once listening and exits cleanly on SIGTERM / SIGINT.
"""
import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def pattern_launch(spec: str) -> str:
    parts = spec.split("@")
    pattern = parts[0] or "smpte"
    width, height = (parts[1].split("x") if len(parts) > 1 else ("640", "360"))
    fps = parts[2] if len(parts) > 2 else "10"
    return (
        f"( videotestsrc is-live=true pattern={pattern} "
        f"! video/x-raw,width={width},height={height},framerate={fps}/1 "
        f"! videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} "
        f"! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


class FilePlayer:
    """Plays an H.264 file in real time, forever: its own pipeline, seeking back to the start at EOS.

    Decoded frames are pushed to the appsrc of every RTSP media currently built from this file. The appsrc
    timestamps buffers on arrival (do-timestamp), so time keeps running forward across loops and clients
    see one endless live stream. The file starts playing, from its beginning, when the first client
    attaches, so a clip's schedule (a box at 10 s) counts from when the camera is first watched.
    """

    def __init__(self, path: str, passthrough: bool = False):
        self.path = path
        self.sources = []
        self.caps = None
        # passthrough: the file's own H.264 access units, no decode or re-encode (cheap for many clients)
        decode = (
            "qtdemux ! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au"
            if passthrough
            else "decodebin ! videoconvert ! video/x-raw,format=I420"
        )
        self.pipeline = Gst.parse_launch(
            f'filesrc location="{path}" ! {decode} '
            f"! appsink name=sink sync=true emit-signals=true max-buffers=4 drop=false"
        )
        sink = self.pipeline.get_by_name("sink")
        sink.connect("new-sample", self._on_sample)
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message::eos", self._on_eos)
        bus.connect("message::error", self._on_error)
        self.playing = False
        self.pipeline.set_state(Gst.State.PAUSED)

    def _on_sample(self, sink):
        sample = sink.emit("pull-sample")
        if sample is None:
            return Gst.FlowReturn.OK
        self.caps = sample.get_caps()
        for src in list(self.sources):
            src.set_property("caps", self.caps)
            buf = sample.get_buffer().copy()
            buf.pts = buf.dts = Gst.CLOCK_TIME_NONE
            if src.emit("push-buffer", buf) != Gst.FlowReturn.OK:
                self.sources.remove(src)
        return Gst.FlowReturn.OK

    def _on_eos(self, _bus, _msg):
        self.pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)

    def _on_error(self, _bus, msg):
        err, _debug = msg.parse_error()
        print(f"ERROR playing {self.path}: {err.message}", file=sys.stderr, flush=True)

    def attach(self, appsrc):
        self.sources.append(appsrc)
        if not self.playing:
            self.playing = True
            self.pipeline.set_state(Gst.State.PLAYING)

    def detach(self, appsrc):
        if appsrc in self.sources:
            self.sources.remove(appsrc)


class LoopingFileFactory(GstRtspServer.RTSPMediaFactory):
    """An RTSP mount fed by a FilePlayer: re-encoded with a 1 s GOP so late joiners get a keyframe fast,
    or (passthrough) the file's own H.264 with its own GOP."""

    def __init__(self, player: FilePlayer, passthrough: bool = False):
        super().__init__()
        self.player = player
        self.set_shared(True)
        encode = (
            "h264parse"
            if passthrough
            else "videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10"
        )
        self.set_launch(
            f"( appsrc name=src is-live=true do-timestamp=true format=time ! {encode} "
            "! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
        self.connect("media-configure", self._on_configure)

    def _on_configure(self, _factory, media):
        appsrc = media.get_element().get_child_by_name("src")
        if self.player.caps is not None:
            appsrc.set_property("caps", self.player.caps)
        self.player.attach(appsrc)
        media.connect("unprepared", lambda _m: self.player.detach(appsrc))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--mount", action="append", default=[], help="NAME=pattern:SPEC or NAME=file:PATH")
    args = parser.parse_args()
    if not args.mount:
        parser.error("give at least one --mount NAME=SOURCE")

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    permissions = None
    user, _, password = os.environ.get("VIGIL_RTSP_AUTH", "").partition(":")
    if user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "camera-user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_role("camera-user")
        permissions.add_permission_for_role("camera-user", "media.factory.access", True)
        permissions.add_permission_for_role("camera-user", "media.factory.construct", True)
    for item in args.mount:
        name, _, source = item.partition("=")
        kind, _, value = source.partition(":")
        if kind == "pattern":
            factory = GstRtspServer.RTSPMediaFactory()
            factory.set_launch(pattern_launch(value))
            factory.set_shared(True)
        elif kind == "launch":
            # a raw gst-launch description, e.g. an audio-only stream or a payload ffmpeg cannot decode
            factory = GstRtspServer.RTSPMediaFactory()
            factory.set_launch(f"( {value} )")
            factory.set_shared(True)
        elif kind in ("file", "h264loop"):
            if not os.path.isfile(value):
                parser.error(f"mount {item!r}: no such file {value!r}")
            passthrough = kind == "h264loop"
            factory = LoopingFileFactory(FilePlayer(value, passthrough), passthrough)
        else:
            parser.error(f"mount {item!r}: source must start with pattern:, file:, h264loop: or launch:")
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
        if permissions is not None:
            factory.set_permissions(permissions)
        mounts.add_factory("/" + name.strip("/"), factory)

    if server.attach(None) == 0:
        print(f"ERROR cannot listen on {args.host}:{args.port}", file=sys.stderr, flush=True)
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
