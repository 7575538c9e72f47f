//! The AMQP transport (RabbitMQ, through lapin), with oslo.messaging's layout:
//!
//! * casts and calls go to the topic exchange `neutron` with routing key `topic` (any server)
//!   or `topic.host` (one server); queues of those names are durable and bound to it, so a
//!   message waits in its queue until a server takes it, and a broker restart keeps it;
//! * fanouts go to the fanout exchange `topic_fanout`; each listener binds its own queue
//!   `topic_fanout_<uuid>`, which goes away with it;
//! * replies go to the default exchange with the caller's `reply_<uuid>` queue as key.
//!
//! Every publish waits for the broker's confirm (publisher confirms) and is sent again on a
//! new connection if the connection broke first; deliveries are acknowledged only after they
//! were handled (and, for calls, after the reply was confirmed), so a server that dies
//! half-way leaves the message to another. A supervisor task reconnects with back-off when the
//! connection breaks and re-creates every listener's consumers.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde_json::Value;
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;

use crate::error::{Error, RemoteError, Result};
use crate::message::{self, Message, Target};
use crate::rpc::Dispatcher;
use crate::transport::{Listener, Transport};

/// oslo.messaging's `control_exchange` for Neutron.
pub const CONTROL_EXCHANGE: &str = "neutron";
/// How long a cast waits for the broker to come back before it fails.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(120);
/// Unused queues expire after this long (oslo's `rabbit_transient_queues_ttl`, 30 min).
const QUEUE_TTL_MS: u32 = 1_800_000;
/// Deliveries a listener handles at once.
const PREFETCH: u16 = 64;

/// Hide the password of a URL for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// oslo's `rabbit://user:pass@host:port/` becomes `amqp://…/%2f` (the default vhost).
fn normalise(url: &str) -> String {
    let url = match url.strip_prefix("rabbit://") {
        Some(rest) => format!("amqp://{rest}"),
        None => url.to_string(),
    };
    let after = &url["amqp://".len()..];
    match after.find('/') {
        None => format!("{url}/%2f"),
        Some(i) if i + 1 == after.len() => format!("{url}%2f"),
        Some(_) => url,
    }
}

/// One established connection.
#[derive(Clone)]
struct Live {
    conn: Arc<Connection>,
    publish: Channel,
    generation: u64,
    declared: Arc<Mutex<HashSet<String>>>,
}

struct ListenSpec {
    topic: String,
    server: String,
    fanout_queue: String,
    dispatcher: Arc<Dispatcher>,
    /// Generation the consumers run on, and their tasks.
    running: tokio::sync::Mutex<(u64, Vec<JoinHandle<()>>, Option<Channel>)>,
}

type Pending = Mutex<HashMap<String, oneshot::Sender<Result<Value, RemoteError>>>>;

struct Inner {
    url: String,
    reply_q: String,
    live: watch::Sender<Option<Live>>,
    pending: Pending,
    listeners: Mutex<HashMap<u64, Arc<ListenSpec>>>,
    next_id: AtomicU64,
    broken: Notify,
    closed: AtomicBool,
}

/// RabbitMQ through lapin.
pub struct AmqpTransport {
    inner: Arc<Inner>,
    supervisor: JoinHandle<()>,
}

impl Drop for AmqpTransport {
    fn drop(&mut self) {
        self.supervisor.abort();
    }
}

impl AmqpTransport {
    /// Start connecting to `url` in the background and wait up to 10 s for the first
    /// connection (the transport keeps trying after that; sends wait for it).
    pub async fn connect(url: &str) -> Result<AmqpTransport> {
        let url = normalise(url);
        lapin::uri::AMQPUri::from_str_checked(&url)?;
        let (live, mut rx) = watch::channel(None);
        let inner = Arc::new(Inner {
            url,
            reply_q: format!("reply_{}", uuid::Uuid::new_v4().simple()),
            live,
            pending: Mutex::new(HashMap::new()),
            listeners: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            broken: Notify::new(),
            closed: AtomicBool::new(false),
        });
        let supervisor = tokio::spawn(supervise(inner.clone()));
        let first = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|l| l.is_some()));
        if first.await.is_err() {
            tracing::warn!(url = %redact(&inner.url), "AMQP broker not reachable yet; retrying in the background");
        }
        Ok(AmqpTransport { inner, supervisor })
    }
}

trait FromStrChecked: Sized {
    fn from_str_checked(s: &str) -> Result<Self>;
}

impl FromStrChecked for lapin::uri::AMQPUri {
    fn from_str_checked(s: &str) -> Result<Self> {
        s.parse()
            .map_err(|e: String| Error::InvalidUrl(format!("transport_url {}: {e}", redact(s))))
    }
}

/// Keep a connection up: connect, set up replies and listeners, wait for a break, repeat.
async fn supervise(inner: Arc<Inner>) {
    let mut generation = 0u64;
    let mut backoff = Duration::from_millis(100);
    while !inner.closed.load(Ordering::SeqCst) {
        generation += 1;
        let attempt = tokio::time::timeout(Duration::from_secs(10), establish(&inner, generation));
        let live = match attempt
            .await
            .unwrap_or_else(|_| Err(Error::Transport("connecting timed out".into())))
        {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(url = %redact(&inner.url), error = %e, "AMQP connection failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        let specs: Vec<Arc<ListenSpec>> = lock(&inner.listeners).values().cloned().collect();
        let mut ok = true;
        for spec in specs {
            if let Err(e) = start_consumers(&inner, &live, &spec).await {
                tracing::warn!(topic = %spec.topic, error = %e, "restoring a listener failed");
                ok = false;
                break;
            }
        }
        if ok {
            tracing::info!(url = %redact(&inner.url), generation, "AMQP connected");
            let _ = inner.live.send_replace(Some(live.clone()));
            let mut events = live.conn.events_listener();
            loop {
                tokio::select! {
                    _ = inner.broken.notified() => break,
                    ev = events.next() => {
                        if matches!(ev, None | Some(lapin::Event::Error(_))) {
                            break;
                        }
                    }
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {
                        if !live.conn.status().connected() || !live.publish.status().connected() {
                            break;
                        }
                    }
                }
            }
            tracing::warn!(generation, "AMQP connection lost; reconnecting");
        }
        let _ = inner.live.send_replace(None);
        // Closing a broken connection may never complete; do not wait for it.
        let conn = live.conn.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                conn.close(200, "reconnecting".into()),
            )
            .await;
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn ttl_args() -> FieldTable {
    let mut t = FieldTable::default();
    t.insert("x-expires".into(), AMQPValue::LongUInt(QUEUE_TTL_MS));
    t
}

/// Connect, open the confirmed publish channel, the control exchange and the reply consumer.
async fn establish(inner: &Arc<Inner>, generation: u64) -> Result<Live> {
    let props = ConnectionProperties::default().with_connection_name("neutrino".into());
    let conn = Arc::new(Connection::connect(&inner.url, props).await?);
    let publish = conn.create_channel().await?;
    publish
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    publish
        .exchange_declare(
            CONTROL_EXCHANGE.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let replies = conn.create_channel().await?;
    replies
        .queue_declare(
            inner.reply_q.as_str().into(),
            QueueDeclareOptions::default(),
            ttl_args(),
        )
        .await?;
    let mut consumer = replies
        .basic_consume(
            inner.reply_q.as_str().into(),
            format!("neutrino-reply-{generation}").into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let weak = Arc::downgrade(inner);
    tokio::spawn(async move {
        let _channel = replies;
        while let Some(Ok(d)) = consumer.next().await {
            let Some(inner) = weak.upgrade() else { break };
            match message::unenvelope(&d.data).and_then(message::read_reply) {
                Ok((msg_id, outcome)) => {
                    if let Some(tx) = lock(&inner.pending).remove(&msg_id) {
                        let _ = tx.send(outcome);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "unreadable reply dropped"),
            }
        }
    });
    Ok(Live {
        conn,
        publish,
        generation,
        declared: Arc::new(Mutex::new(HashSet::new())),
    })
}

/// Declare (once per connection) the durable queue of a topic target, bound to `neutron`.
async fn ensure_queue(ch: &Channel, declared: &Mutex<HashSet<String>>, name: &str) -> Result<()> {
    if lock(declared).contains(name) {
        return Ok(());
    }
    ch.queue_declare(
        name.into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        ttl_args(),
    )
    .await?;
    ch.queue_bind(
        name.into(),
        CONTROL_EXCHANGE.into(),
        name.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;
    lock(declared).insert(name.to_string());
    Ok(())
}

/// Declare (once per connection) a topic's fanout exchange.
async fn ensure_fanout(ch: &Channel, declared: &Mutex<HashSet<String>>, topic: &str) -> Result<()> {
    let name = format!("{topic}_fanout");
    if lock(declared).contains(&name) {
        return Ok(());
    }
    ch.exchange_declare(
        name.as_str().into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await?;
    lock(declared).insert(name);
    Ok(())
}

/// Where a publish goes.
enum Dest<'a> {
    Target(&'a Target),
    Reply(&'a str),
}

impl Inner {
    async fn wait_live(&self, until: tokio::time::Instant) -> Result<Live> {
        let mut rx = self.live.subscribe();
        match tokio::time::timeout_at(until, rx.wait_for(|l| l.is_some())).await {
            Ok(Ok(l)) => Ok(l.clone().expect("waited for Some")),
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(Error::Transport(format!(
                "no connection to the broker at {}",
                redact(&self.url)
            ))),
        }
    }

    async fn try_publish(&self, live: &Live, dest: &Dest<'_>, body: &[u8]) -> Result<()> {
        let ch = &live.publish;
        let (exchange, key, persistent) = match dest {
            Dest::Target(t) if t.fanout => {
                ensure_fanout(ch, &live.declared, &t.topic).await?;
                (format!("{}_fanout", t.topic), String::new(), false)
            }
            Dest::Target(t) => {
                let q = t.queue();
                ensure_queue(ch, &live.declared, &q).await?;
                (CONTROL_EXCHANGE.to_string(), q, true)
            }
            Dest::Reply(q) => (String::new(), q.to_string(), false),
        };
        let mut props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_content_encoding("utf-8".into());
        if persistent {
            props = props.with_delivery_mode(2);
        }
        let confirm = ch
            .basic_publish(
                exchange.as_str().into(),
                key.as_str().into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await?
            .await?;
        if confirm.is_nack() {
            return Err(Error::Transport(format!(
                "the broker refused a message for {key}"
            )));
        }
        Ok(())
    }

    /// Publish and wait for the confirm, across reconnections, until `until`.
    async fn publish(
        &self,
        dest: Dest<'_>,
        body: &[u8],
        until: tokio::time::Instant,
    ) -> Result<()> {
        loop {
            if self.closed.load(Ordering::SeqCst) {
                return Err(Error::Closed);
            }
            let live = self.wait_live(until).await?;
            match self.try_publish(&live, &dest, body).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, generation = live.generation, "publish failed; will retry on a new connection");
                    // Tell the supervisor, unless it already replaced this connection.
                    if self
                        .live
                        .borrow()
                        .as_ref()
                        .is_some_and(|l| l.generation == live.generation)
                    {
                        self.broken.notify_one();
                    }
                    if tokio::time::Instant::now() >= until {
                        return Err(e);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Consume a listener's queues on a connection (once per connection).
async fn start_consumers(inner: &Arc<Inner>, live: &Live, spec: &Arc<ListenSpec>) -> Result<()> {
    let mut running = spec.running.lock().await;
    if running.0 >= live.generation {
        return Ok(());
    }
    for t in running.1.drain(..) {
        t.abort();
    }
    let ch = live.conn.create_channel().await?;
    ch.basic_qos(PREFETCH, BasicQosOptions::default()).await?;
    let shared = spec.topic.clone();
    let direct = format!("{}.{}", spec.topic, spec.server);
    let scratch = Mutex::new(HashSet::new());
    ensure_queue(&ch, &scratch, &shared).await?;
    ensure_queue(&ch, &scratch, &direct).await?;
    ensure_fanout(&ch, &scratch, &spec.topic).await?;
    ch.queue_declare(
        spec.fanout_queue.as_str().into(),
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await?;
    ch.queue_bind(
        spec.fanout_queue.as_str().into(),
        format!("{}_fanout", spec.topic).as_str().into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;
    let mut tasks = Vec::new();
    for q in [&shared, &direct, &spec.fanout_queue] {
        let consumer = ch
            .basic_consume(
                q.as_str().into(),
                format!("neutrino-{}", uuid::Uuid::new_v4().simple()).into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tasks.push(tokio::spawn(consume(
            Arc::downgrade(inner),
            spec.dispatcher.clone(),
            consumer,
        )));
    }
    *running = (live.generation, tasks, Some(ch));
    Ok(())
}

async fn consume(
    inner: std::sync::Weak<Inner>,
    dispatcher: Arc<Dispatcher>,
    mut consumer: lapin::Consumer,
) {
    while let Some(delivery) = consumer.next().await {
        let Ok(delivery) = delivery else { break };
        let Some(inner) = inner.upgrade() else { break };
        let dispatcher = dispatcher.clone();
        tokio::spawn(async move {
            let acker = delivery.acker.clone();
            match message::unenvelope(&delivery.data).and_then(Message::from_oslo) {
                Ok((msg, reply)) => {
                    let method = msg.method.clone();
                    let outcome = dispatcher.dispatch(msg).await;
                    match reply {
                        Some((msg_id, reply_q)) => {
                            let body = message::envelope(&message::reply_dict(&msg_id, &outcome));
                            let until = tokio::time::Instant::now() + Duration::from_secs(30);
                            if let Err(e) = inner.publish(Dest::Reply(&reply_q), &body, until).await
                            {
                                tracing::warn!(%method, error = %e, "reply lost");
                            }
                        }
                        None => {
                            if let Err(e) = outcome {
                                tracing::warn!(%method, error = %e, "cast failed");
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "unreadable message dropped"),
            }
            if let Err(e) = acker.ack(BasicAckOptions::default()).await {
                tracing::debug!(error = %e, "ack failed (the broker will deliver it again)");
            }
        });
    }
}

struct AmqpListener {
    inner: Arc<Inner>,
    id: u64,
}

impl Listener for AmqpListener {
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
        async move {
            let spec = lock(&self.inner.listeners).remove(&self.id);
            if let Some(spec) = spec {
                let mut running = spec.running.lock().await;
                for t in running.1.drain(..) {
                    t.abort();
                }
                if let Some(ch) = running.2.take() {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(2),
                        ch.close(200, "listener stopped".into()),
                    )
                    .await;
                }
                running.0 = u64::MAX;
            }
        }
        .boxed()
    }
}

impl Transport for AmqpTransport {
    fn send(&self, target: Target, msg: Message) -> BoxFuture<'_, Result<()>> {
        async move {
            let body = message::envelope(&msg.to_oslo(None));
            let until = tokio::time::Instant::now() + SEND_TIMEOUT;
            self.inner
                .publish(Dest::Target(&target), &body, until)
                .await
        }
        .boxed()
    }

    fn call(
        &self,
        target: Target,
        msg: Message,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<Value>> {
        async move {
            let until = tokio::time::Instant::now() + timeout;
            let msg_id = uuid::Uuid::new_v4().simple().to_string();
            let (tx, rx) = oneshot::channel();
            lock(&self.inner.pending).insert(msg_id.clone(), tx);
            let body = message::envelope(&msg.to_oslo(Some((&msg_id, &self.inner.reply_q))));
            let timeout_err = || Error::Timeout {
                method: msg.method.clone(),
                topic: target.queue(),
                timeout_ms: timeout.as_millis(),
            };
            let sent = self
                .inner
                .publish(Dest::Target(&target), &body, until)
                .await;
            if let Err(e) = sent {
                lock(&self.inner.pending).remove(&msg_id);
                return Err(match e {
                    Error::Transport(_) if tokio::time::Instant::now() >= until => timeout_err(),
                    e => e,
                });
            }
            match tokio::time::timeout_at(until, rx).await {
                Ok(Ok(Ok(v))) => Ok(v),
                Ok(Ok(Err(remote))) => Err(Error::Remote(Box::new(remote))),
                Ok(Err(_)) => Err(Error::Closed),
                Err(_) => {
                    lock(&self.inner.pending).remove(&msg_id);
                    Err(timeout_err())
                }
            }
        }
        .boxed()
    }

    fn listen(
        &self,
        topic: &str,
        server: &str,
        dispatcher: Arc<Dispatcher>,
    ) -> BoxFuture<'_, Result<Box<dyn Listener>>> {
        let spec = Arc::new(ListenSpec {
            topic: topic.to_string(),
            server: server.to_string(),
            fanout_queue: format!("{topic}_fanout_{}", uuid::Uuid::new_v4().simple()),
            dispatcher,
            running: tokio::sync::Mutex::new((0, Vec::new(), None)),
        });
        async move {
            let id = self.inner.next_id.fetch_add(1, Ordering::SeqCst);
            lock(&self.inner.listeners).insert(id, spec.clone());
            let until = tokio::time::Instant::now() + Duration::from_secs(10);
            match self.inner.wait_live(until).await {
                Ok(live) => {
                    if let Err(e) = start_consumers(&self.inner, &live, &spec).await {
                        tracing::warn!(%e, "listener not consuming yet; will on reconnection");
                        self.inner.broken.notify_one();
                    }
                }
                Err(e) => tracing::warn!(%e, "listener waits for the broker"),
            }
            let l: Box<dyn Listener> = Box::new(AmqpListener {
                inner: self.inner.clone(),
                id,
            });
            Ok(l)
        }
        .boxed()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        async move {
            self.inner.closed.store(true, Ordering::SeqCst);
            self.supervisor.abort();
            let live = self.inner.live.borrow().clone();
            let _ = self.inner.live.send_replace(None);
            lock(&self.inner.pending).clear();
            if let Some(live) = live {
                let _ = tokio::time::timeout(
                    Duration::from_secs(2),
                    live.conn.close(200, "closing".into()),
                )
                .await;
            }
        }
        .boxed()
    }

    fn describe(&self) -> String {
        redact(&self.inner.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oslo_rabbit_urls_name_the_default_vhost() {
        assert_eq!(
            normalise("rabbit://guest:guest@127.0.0.1:5672/"),
            "amqp://guest:guest@127.0.0.1:5672/%2f"
        );
        assert_eq!(normalise("amqp://h:5672"), "amqp://h:5672/%2f");
        assert_eq!(normalise("amqp://h:5672/neutron"), "amqp://h:5672/neutron");
        assert_eq!(redact("amqp://guest:secret@h/"), "amqp://guest:***@h/");
    }
}
