//! The in-process transport: queues and fanouts in memory, with AMQP's semantics where they
//! matter. A shared queue (`topic`, `topic.server`) hands each message to one of its
//! consumers in turn and keeps messages sent while nobody consumes it until someone does (as
//! a durable queue would); a fanout reaches every listener of the topic listening now.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, RemoteError, Result};
use crate::message::{Message, Target};
use crate::rpc::Dispatcher;
use crate::transport::{Listener, Transport};

type ReplyTx = oneshot::Sender<Result<Value, RemoteError>>;

struct Delivery {
    msg: Message,
    reply: Option<ReplyTx>,
}

type Consumer = (u64, mpsc::UnboundedSender<Delivery>);

#[derive(Default)]
struct Queue {
    consumers: Vec<Consumer>,
    next: usize,
    backlog: VecDeque<Delivery>,
}

impl Queue {
    /// Hand a delivery to the next live consumer, or keep it.
    fn push(&mut self, mut d: Delivery) {
        while !self.consumers.is_empty() {
            let i = self.next % self.consumers.len();
            match self.consumers[i].1.send(d) {
                Ok(()) => {
                    self.next = i + 1;
                    return;
                }
                Err(mpsc::error::SendError(back)) => {
                    d = back;
                    self.consumers.remove(i);
                }
            }
        }
        self.backlog.push_back(d);
    }
}

#[derive(Default)]
struct State {
    queues: HashMap<String, Queue>,
    fanouts: HashMap<String, Vec<Consumer>>,
    next_id: u64,
    closed: bool,
}

/// Queues and fanouts in this process.
#[derive(Default, Clone)]
pub struct MemoryTransport {
    state: Arc<Mutex<State>>,
}

impl MemoryTransport {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn deliver(&self, target: &Target, d: Delivery) -> Result<()> {
        let mut st = self.state();
        if st.closed {
            return Err(Error::Closed);
        }
        if target.fanout {
            if let Some(consumers) = st.fanouts.get_mut(&target.topic) {
                consumers.retain(|(_, tx)| {
                    tx.send(Delivery {
                        msg: d.msg.clone(),
                        reply: None,
                    })
                    .is_ok()
                });
            }
            return Ok(());
        }
        st.queues.entry(target.queue()).or_default().push(d);
        Ok(())
    }
}

struct MemoryListener {
    transport: MemoryTransport,
    id: u64,
    task: tokio::task::JoinHandle<()>,
}

impl Listener for MemoryListener {
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
        {
            let mut st = self.transport.state();
            for q in st.queues.values_mut() {
                q.consumers.retain(|(id, _)| *id != self.id);
            }
            for f in st.fanouts.values_mut() {
                f.retain(|(id, _)| *id != self.id);
            }
        }
        self.task.abort();
        async {}.boxed()
    }
}

impl Transport for MemoryTransport {
    fn send(&self, target: Target, msg: Message) -> BoxFuture<'_, Result<()>> {
        let r = self.deliver(&target, Delivery { msg, reply: None });
        async move { r }.boxed()
    }

    fn call(
        &self,
        target: Target,
        msg: Message,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<Value>> {
        async move {
            let method = msg.method.clone();
            let (tx, rx) = oneshot::channel();
            self.deliver(
                &target,
                Delivery {
                    msg,
                    reply: Some(tx),
                },
            )?;
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(Ok(v))) => Ok(v),
                Ok(Ok(Err(remote))) => Err(Error::Remote(Box::new(remote))),
                Ok(Err(_)) => Err(Error::Closed),
                Err(_) => Err(Error::Timeout {
                    method,
                    topic: target.queue(),
                    timeout_ms: timeout.as_millis(),
                }),
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
        let (tx, mut rx) = mpsc::unbounded_channel::<Delivery>();
        let id = {
            let mut st = self.state();
            st.next_id += 1;
            let id = st.next_id;
            for name in [topic.to_string(), format!("{topic}.{server}")] {
                let q = st.queues.entry(name).or_default();
                q.consumers.push((id, tx.clone()));
                while let Some(d) = q.backlog.pop_front() {
                    q.push(d);
                }
            }
            st.fanouts
                .entry(topic.to_string())
                .or_default()
                .push((id, tx));
            id
        };
        let task = tokio::spawn(async move {
            while let Some(d) = rx.recv().await {
                let fut = dispatcher.dispatch(d.msg);
                tokio::spawn(async move {
                    let outcome = fut.await;
                    if let Some(reply) = d.reply {
                        let _ = reply.send(outcome);
                    } else if let Err(e) = outcome {
                        tracing::warn!(error = %e, "cast failed");
                    }
                });
            }
        });
        let listener: Box<dyn Listener> = Box::new(MemoryListener {
            transport: self.clone(),
            id,
            task,
        });
        async move { Ok(listener) }.boxed()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        let mut st = self.state();
        st.closed = true;
        st.queues.clear();
        st.fanouts.clear();
        async {}.boxed()
    }

    fn describe(&self) -> String {
        "memory://".to_string()
    }
}
