//! The application state, built once at start and shared by every request.

use chengyun_domain::standard::Catalogue;
use chengyun_geo::Locator;
use chengyun_store::{DynStore, StoreError};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Settings of the HTTP API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    pub cookie_secure: bool,
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// The largest JSON body accepted by ordinary endpoints.
    pub max_body_bytes: usize,
    /// The largest file accepted by the import endpoints.
    pub max_import_bytes: usize,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted
    /// reverse proxy: otherwise any client could forge its address in the audit log).
    pub trust_forwarded_for: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            cookie_secure: false,
            session_ttl: Duration::from_secs(12 * 3600),
            max_body_bytes: 1024 * 1024,
            max_import_bytes: 256 * 1024 * 1024,
            trust_forwarded_for: false,
        }
    }
}

/// The parts of the city model kept in memory: the class catalogue (national
/// plus local classes) and the spatial index. Rebuilt as a whole after imports.
pub struct City {
    pub catalogue: Catalogue,
    pub locator: Locator,
}

impl City {
    /// Loads the local classes and every area and grid from the store.
    pub async fn load(store: &DynStore) -> Result<City, StoreError> {
        let mut catalogue = Catalogue::national();
        for class in store.local_classes().await? {
            let code = class.code.clone();
            if let Err(e) = catalogue.extend(class) {
                // A stored class that no longer fits (e.g. a national class was
                // added with its code) must not stop the server; it is skipped.
                tracing::warn!(%code, error = %e, "skipping a stored local class");
            }
        }
        let areas = store.all_areas().await?;
        let grids = store.all_grids().await?;
        let locator = tokio::task::spawn_blocking(move || Locator::build(&areas, &grids))
            .await
            .map_err(|e| StoreError::Database(format!("building the spatial index failed: {e}")))?;
        Ok(City { catalogue, locator })
    }
}

struct Inner {
    store: DynStore,
    config: ApiConfig,
    city: RwLock<Arc<City>>,
    /// Serialises reloads so an older reload never overwrites a newer one.
    reload: tokio::sync::Mutex<()>,
}

/// Everything a handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl AppState {
    /// Builds the state: loads the catalogue and the spatial index from `store`.
    pub async fn new(store: DynStore, config: ApiConfig) -> Result<AppState, StoreError> {
        let city = City::load(&store).await?;
        Ok(AppState {
            inner: Arc::new(Inner {
                store,
                config,
                city: RwLock::new(Arc::new(city)),
                reload: tokio::sync::Mutex::new(()),
            }),
        })
    }

    pub fn store(&self) -> &DynStore {
        &self.inner.store
    }

    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// The current in-memory city model; requests keep the snapshot they took.
    pub fn city(&self) -> Arc<City> {
        match self.inner.city.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Rebuilds the catalogue and the spatial index from the store and swaps
    /// them in at once; requests in flight finish on the old snapshot.
    pub async fn reload_city(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.inner.reload.lock().await;
        let city = Arc::new(City::load(&self.inner.store).await?);
        match self.inner.city.write() {
            Ok(mut guard) => *guard = city,
            Err(poisoned) => *poisoned.into_inner() = city,
        }
        Ok(())
    }
}
