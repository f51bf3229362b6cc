//! Per-connection limits of the TCP gateways: idle timeout, connection limit, buffer limit.

mod common;

use chengyun_ingest::source::{Inbound, TcpSettings, WatchConfig};
use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_close_and_the_limit_refuses_extra_ones() {
    let config = WatchConfig {
        tcp: TcpSettings {
            listen: any_port(),
            max_connections: 1,
            idle_timeout_secs: 1,
            max_buffer_bytes: 1024,
            drain_timeout_ms: 1000,
        },
        ..WatchConfig::default()
    };
    let r = start(&config, directory(), true).await;
    let addr = r.addr.expect("port");
    let mut a = TcpStream::connect(addr).await.expect("connect");
    a.write_all(&watch_frame("8800000001", "LK"))
        .await
        .expect("write");
    let mut buf = Vec::new();
    assert_eq!(read_watch(&mut a, &mut buf).await.as_deref(), Some("LK"));

    // Only one connection allowed: the second is closed at once and counted.
    let mut b = TcpStream::connect(addr)
        .await
        .expect("tcp accept still happens");
    assert!(closed(&mut b).await);
    assert_eq!(r.counters.snapshot().over_limit, 1);

    // The first goes idle and is closed after ~1 s, with a Disconnected for the sink.
    assert!(closed(&mut a).await);
    assert_eq!(r.counters.snapshot().idle_timeouts, 1);
    assert!(
        r.sink
            .wait_for(WAIT, |recs| recs.iter().any(|(_, m)| matches!(m,
        Inbound::Disconnected { reason, .. } if reason == "idle timeout")))
            .await
    );

    // The slot is free again; a connection that buffers more than the limit without a
    // frame is closed and counted.
    let mut c = TcpStream::connect(addr).await.expect("connect");
    let mut flood = b"[3G*8800000002*1F40*".to_vec(); // 8000 bytes announced: the codec waits
    flood.extend(std::iter::repeat_n(b'a', 4000));
    let sent_at = std::time::Instant::now();
    let _ = c.write_all(&flood).await;
    assert!(closed(&mut c).await);
    assert!(
        sent_at.elapsed() < std::time::Duration::from_millis(900),
        "closed for the buffer limit, not by the 1 s idle timeout"
    );
    let s = r.counters.snapshot();
    assert!(s.bad_input >= 1 && s.discarded_bytes >= 1024, "{s:?}");

    r.trigger.trigger();
    assert!(matches!(
        tokio::time::timeout(WAIT, r.handle).await,
        Ok(Ok(Ok(())))
    ));
}
