"""PipelineConfig: readable errors for bad values, and no credentials in its repr."""

import pytest

from detection.config import ConfigError, PipelineConfig


def test_defaults_are_the_reference_parameters():
    config = PipelineConfig(camera_id=1, name="c", source="rtsp://cam/stream")
    assert (config.scale_factor, config.min_neighbors, config.min_face_size) == (1.1, 6, 40)
    assert (config.transport, config.detector, config.interval_ms) == ("tcp", "haar", 1000)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("interval_ms", 0, "interval_ms must be > 0 (got 0)"),
        ("scale_factor", 1.0, "scale_factor must be > 1 (got 1.0)"),
        ("transport", "http", "transport must be 'tcp' or 'udp' (got 'http')"),
        ("detector", "dnn", "detector must be 'haar' or 'yunet' (got 'dnn')"),
        ("source", "", "source must not be empty"),
    ],
)
def test_bad_values_name_the_field(field: str, value: object, message: str):
    values = {"camera_id": 1, "name": "c", "source": "rtsp://cam/stream", field: value}
    with pytest.raises(ConfigError) as excinfo:
        PipelineConfig(**values)
    assert str(excinfo.value) == message


def test_repr_leaves_out_urls_with_credentials():
    config = PipelineConfig(
        camera_id=1,
        name="c",
        source="rtsp://admin:s3cret@cam/stream",
        publish_url="rtsp://worker:t0ken@mediamtx:8554/cam1",
    )
    assert "s3cret" not in repr(config)
    assert "t0ken" not in repr(config)
