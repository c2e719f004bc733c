//! One shared cache of a kind: a single watch (with bookmarks, resumption and re-list after 410, as kube-rs's
//! watcher does) feeding a reflector store that every controller reads, and a fan-out of changed objects that
//! controllers subscribe to as triggers. kube-rs's shared reflector hands subscribers only added and modified
//! objects, so deletions are fanned out here beside it: an owner must hear that its pod is gone.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use kube::api::Api;
use kube::runtime::reflector::{self, store::Writer, ReflectHandle, Store};
use kube::runtime::{watcher, WatchStreamExt};
use serde::de::DeserializeOwned;
use tokio::sync::{broadcast, Mutex};

/// Changed objects a slow subscriber may have pending before the watch waits for it.
const SUBSCRIBER_BUFFER_OBJECTS_MAX: usize = 1024;

pub struct Informer<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    pub store: Store<K>,
    writer: Arc<Mutex<Option<Writer<K>>>>,
    deleted: broadcast::Sender<Arc<K>>,
    api: Api<K>,
}

impl<K> Clone for Informer<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    fn clone(&self) -> Self {
        Informer { store: self.store.clone(), writer: self.writer.clone(), deleted: self.deleted.clone(), api: self.api.clone() }
    }
}

impl<K> Informer<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    /// A cache of every object of the kind in the cluster; nothing is watched until [`Informer::drive`].
    pub fn new(client: kube::Client) -> Self {
        let (store, writer) = reflector::store_shared(SUBSCRIBER_BUFFER_OBJECTS_MAX);
        let (deleted, _) = broadcast::channel(SUBSCRIBER_BUFFER_OBJECTS_MAX);
        Informer { store, writer: Arc::new(Mutex::new(Some(writer))), deleted, api: Api::all(client) }
    }

    /// A stream of objects as they change or are deleted; subscribe before `drive` starts.
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        let writer = self.writer.try_lock().expect("subscribers are taken before the informer is driven");
        let changed: ReflectHandle<K> = writer.as_ref().and_then(Writer::subscribe).expect("a shared store always has subscribers");
        let deleted = futures::stream::unfold(self.deleted.subscribe(), |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(object) => return Some((object, receiver)),
                    // A subscriber that fell behind misses some deletions; its periodic resync covers them.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        futures::stream::select(changed, deleted)
    }

    /// Watches and fills the store until the process ends (watch errors are retried with backoff).
    pub async fn drive(self) {
        let Some(writer) = self.writer.lock().await.take() else { return };
        let stream = watcher(self.api.clone(), watcher::Config::default()).default_backoff().reflect_shared(writer);
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            match item {
                Ok(watcher::Event::Delete(object)) => {
                    let _ = self.deleted.send(Arc::new(object));
                }
                Ok(_) => {}
                Err(error) => tracing::debug!(%error, kind = K::kind(&()).as_ref(), "watch failed; retrying"),
            }
        }
    }

    /// Clones of the cached objects in `namespace`.
    pub fn in_namespace(&self, namespace: &str) -> Vec<K> {
        self.store.state().iter().filter(|object| object.meta().namespace.as_deref() == Some(namespace)).map(|o| (**o).clone()).collect()
    }
}
