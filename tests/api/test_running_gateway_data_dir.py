"""`aigw.testing.gateway.running_gateway` cleans up the data directory it made, and only that."""

from __future__ import annotations

from aigw.testing.gateway import running_gateway


async def test_a_data_directory_the_block_made_is_removed_when_it_ends():
    async with running_gateway(create_token=False) as gw:
        made = gw.data_dir
        assert (made / "aigw.toml").is_file()
    assert not made.exists()


async def test_a_data_directory_the_caller_gave_is_kept(tmp_path):
    async with running_gateway(data_dir=tmp_path / "gw", create_token=False) as gw:
        assert gw.data_dir == tmp_path / "gw"
    assert (tmp_path / "gw" / "aigw.toml").is_file()
