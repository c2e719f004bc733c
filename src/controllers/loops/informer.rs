//! One shared cache of a kind: a single watch (with bookmarks, resumption and re-list after 410, as kube-rs's
//! watcher does) feeding a reflector store that every controller reads, and a fan-out of changed objects that
//! controllers subscribe to as triggers.

use std::sync::Arc;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::reflector::{self, store::Writer, ReflectHandle, Store};
use kube::runtime::{watcher, WatchStreamExt};
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

/// Changed objects a slow subscriber may have pending before the watch waits for it.
const SUBSCRIBER_BUFFER_OBJECTS_MAX: usize = 1024;

pub struct Informer<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    pub store: Store<K>,
    writer: Arc<Mutex<Option<Writer<K>>>>,
    api: Api<K>,
}

impl<K> Clone for Informer<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    fn clone(&self) -> Self {
        Informer { store: self.store.clone(), writer: self.writer.clone(), api: self.api.clone() }
    }
}

impl<K> Informer<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    /// A cache of every object of the kind in the cluster; nothing is watched until [`Informer::drive`].
    pub fn new(client: kube::Client) -> Self {
        let (store, writer) = reflector::store_shared(SUBSCRIBER_BUFFER_OBJECTS_MAX);
        Informer { store, writer: Arc::new(Mutex::new(Some(writer))), api: Api::all(client) }
    }

    /// A stream of objects as they change; subscribe before `drive` starts.
    pub fn subscribe(&self) -> ReflectHandle<K> {
        let writer = self.writer.try_lock().expect("subscribers are taken before the informer is driven");
        writer.as_ref().and_then(Writer::subscribe).expect("a shared store always has subscribers")
    }

    /// Watches and fills the store until the process ends (watch errors are retried with backoff).
    pub async fn drive(self) {
        let Some(writer) = self.writer.lock().await.take() else { return };
        let stream = watcher(self.api.clone(), watcher::Config::default()).default_backoff().reflect_shared(writer);
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            if let Err(error) = item {
                tracing::debug!(%error, kind = K::kind(&()).as_ref(), "watch failed; retrying");
            }
        }
    }

    /// Clones of the cached objects in `namespace`.
    pub fn in_namespace(&self, namespace: &str) -> Vec<K> {
        self.store.state().iter().filter(|object| object.meta().namespace.as_deref() == Some(namespace)).map(|o| (**o).clone()).collect()
    }
}
