//! The IoT registry on several nodes (`[bus] kind = "nats"`, one database).
//!
//! Every committed registry write is announced on the bus as
//! `Event::IotChanged { what, ids, all }` (subject `iot.changed.<what>`),
//! after the store committed it and this node's memory holds it:
//!
//! | `what` | announced by | `ids` |
//! |---|---|---|
//! | `devices` | `put_device`, `create_device` (also credential rotation and JT/T 808 (re-)registration), `put_devices`, a theft report arming / a finished theft case disarming a tracker | the device ids (`all` beyond `Event::IOT_CHANGED_MAX_IDS`) |
//! | `products` | `put_product` (also each product of a pack) | the product key |
//! | `grants` | `grant`, `revoke_grant` | — (`all`) |
//! | `rules` | `save_rules` | — (`all`) |
//! | `packs` | `enable_pack` / `install_pack` (products, local classes, alarm mappings, rules) | — (`all`) |
//!
//! [`IotService::follow_bus`] (the API state starts it on every node) reloads
//! what *another* node announced (`Origin::Remote`) from the store, holding
//! the registry write lock so that a reload never overwrites a newer local
//! write. Devices come with their credential hash, so a device created or
//! re-keyed on one node authenticates (and its old secret is refused) at the
//! gateways of every node; rules are applied to the running engine keeping
//! the per-device state of the rules that did not change
//! (`IotService::run_rules`); packs reload the products, the catalogue's
//! local classes, the alarm mappings and the rules. Missed events
//! (`Lagged`, on a shared bus) reload all of it. The node's own events are
//! skipped: it held what it wrote before announcing it, and on the
//! in-process bus every event is the node's own, so one node behaves as
//! before.
//!
//! Alarms: per-device rule state (condition tracks, open alarms) lives in
//! the engine of the node the device reports to. An alarm acknowledged or
//! cleared through another node is stored and announced there
//! (`AlarmChanged`, change `acknowledged` / `cleared`); on that event the
//! node whose engine holds the alarm applies the action to its engine, so
//! it neither keeps a stale open alarm (whose next update would write
//! `active` back over the person's action) nor raises it again at once: a
//! cleared alarm whose condition still holds stays latched, as on one node.
//! If an update of the holder was stored over the other node's write in
//! between, the holder writes the acknowledged or cleared alarm back.

use super::{IotError, IotService};
use chengyun_bus::{Event, Origin, Received, Subscription};
use chengyun_domain::iot::{AlarmChange, AlarmState, ClearReason, Rule};
use std::collections::HashSet;
use std::sync::Arc;

/// Who acknowledged or cleared an alarm when the store lost it (an update
/// of the holding node was stored over the other node's write).
const SOMEONE_ELSEWHERE: &str = "unknown (on another node)";

fn progress(state: AlarmState) -> u8 {
    match state {
        AlarmState::Active => 0,
        AlarmState::Acknowledged => 1,
        AlarmState::Cleared => 2,
    }
}

impl IotService {
    /// The subscription taken before the registry was loaded (so nothing
    /// announced while it loaded is missed), or a new one.
    fn take_subscription(&self) -> Subscription {
        let early = match self.inner.early.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        early.unwrap_or_else(|| self.inner.bus.subscribe())
    }

    /// Starts following the other nodes (see the module docs): every remote
    /// event goes to [`IotService::on_remote_event`]; on a shared bus a
    /// `Lagged` reloads the whole registry. The task ends when the bus
    /// closes or the service is gone.
    pub fn follow_bus(&self) -> tokio::task::JoinHandle<()> {
        let mut sub = self.take_subscription();
        let shared = self.inner.bus.kind() != "inprocess";
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let (got, origin) = sub.recv_with_origin().await;
                let event = match got {
                    Received::Event(e) if origin == Origin::Remote => Some(e),
                    Received::Lagged(n) if shared => {
                        tracing::warn!(
                            missed = n,
                            "the IoT registry missed bus events; reloading it from the store"
                        );
                        None
                    }
                    Received::Closed => break,
                    _ => continue,
                };
                let Some(inner) = weak.upgrade() else { break };
                let svc = IotService { inner };
                let done = match &event {
                    Some(e) => svc.on_remote_event(e).await.map(|_| ()),
                    None => svc.reload_registry().await,
                };
                if let Err(e) = done {
                    let subject = event.as_ref().map(Event::subject);
                    tracing::error!(?subject, error = %e, "cannot follow an IoT change of another node");
                }
            }
        })
    }

    /// Applies an event another node published: `IotChanged` reloads what
    /// it names from the store; an `acknowledged` or `cleared`
    /// `AlarmChanged` reaches this node's engine if it holds the alarm.
    /// Answers whether it concerned this node (a reload, or an alarm this
    /// engine held). [`IotService::follow_bus`] calls it for each remote
    /// event; never call it for this node's own events.
    pub async fn on_remote_event(&self, event: &Event) -> Result<bool, IotError> {
        match event {
            Event::IotChanged { what, ids, all } => self.reload(what, ids, *all).await,
            Event::AlarmChanged {
                alarm_id, change, ..
            } if change == "acknowledged" || change == "cleared" => {
                let announced = if change == "cleared" {
                    AlarmState::Cleared
                } else {
                    AlarmState::Acknowledged
                };
                self.follow_alarm(alarm_id, announced).await
            }
            _ => Ok(false),
        }
    }

    /// Reloads the whole registry from the store: products, the catalogue's
    /// local classes, alarm mappings, rules, devices and grants.
    pub async fn reload_registry(&self) -> Result<(), IotError> {
        let cleared = {
            let _writing = self.inner.writes.lock().await;
            let mut cleared = self.reload_packs().await?;
            cleared.extend(self.reload_devices(&[], true).await?);
            self.hold_grants().await?;
            cleared
        };
        self.handle_changes(cleared).await;
        Ok(())
    }

    async fn reload(&self, what: &str, ids: &[String], all: bool) -> Result<bool, IotError> {
        if !all && ids.is_empty() && matches!(what, "devices" | "products") {
            return Ok(false);
        }
        let cleared = {
            let _writing = self.inner.writes.lock().await;
            match what {
                "devices" => self.reload_devices(ids, all).await?,
                "products" => {
                    self.reload_products(ids, all).await?;
                    Vec::new()
                }
                "grants" => {
                    self.hold_grants().await?;
                    Vec::new()
                }
                "rules" => self.reload_rules().await?,
                "packs" => self.reload_packs().await?,
                other => {
                    tracing::warn!(
                        what = other,
                        "an IoT change of a kind this node does not know was ignored"
                    );
                    return Ok(false);
                }
            }
        };
        self.handle_changes(cleared).await;
        tracing::debug!(
            what,
            ids = ids.len(),
            all,
            "reloaded after a change on another node"
        );
        Ok(true)
    }

    /// Devices `ids` (or all) as stored, credential hash included; a device
    /// the store no longer has is forgotten (its open alarms cleared).
    async fn reload_devices(
        &self,
        ids: &[String],
        all: bool,
    ) -> Result<Vec<AlarmChange>, IotError> {
        let store = &self.inner.store;
        let (found, missing) = if all {
            let found = store.all_devices().await?;
            let present: HashSet<&str> = found.iter().map(|d| d.id.as_str()).collect();
            let missing: Vec<String> = self
                .registry()
                .devices
                .keys()
                .filter(|id| !present.contains(id.as_str()))
                .cloned()
                .collect();
            (found, missing)
        } else {
            let mut found = Vec::new();
            let mut missing = Vec::new();
            for id in ids {
                match store.device(id).await? {
                    Some(d) => found.push(d),
                    None => missing.push(id.clone()),
                }
            }
            (found, missing)
        };
        let now = self.now();
        let mut cleared = Vec::new();
        {
            let mut engine = self.engine();
            for d in &found {
                engine.register_device(d, now);
            }
            for id in &missing {
                cleared.extend(engine.forget_device(id, now));
            }
        }
        let mut reg = self.registry_mut();
        for d in found {
            reg.put_device(d);
        }
        for id in &missing {
            reg.remove_device(id);
        }
        Ok(cleared)
    }

    /// Products `keys` (or all) as stored.
    async fn reload_products(&self, keys: &[String], all: bool) -> Result<(), IotError> {
        let store = &self.inner.store;
        let products = if all {
            store.products().await?
        } else {
            let mut found = Vec::new();
            for key in keys {
                match store.product(key).await? {
                    Some(p) => found.push(p),
                    None => {
                        tracing::warn!(product = %key, "an announced product is not in the store")
                    }
                }
            }
            found
        };
        let mut held = Vec::new();
        {
            let mut engine = self.engine();
            for p in products {
                match engine.upsert_product(p.clone()) {
                    Ok(()) => held.push(p),
                    Err(e) => {
                        tracing::error!(product = %p.key, error = %e, "a stored product does not validate; kept as it was")
                    }
                }
            }
        }
        let mut reg = self.registry_mut();
        for p in held {
            reg.products.insert(p.key.clone(), Arc::new(p));
        }
        reg.reindex();
        Ok(())
    }

    /// The latest stored rule set (else the enabled packs' rules, as at
    /// start), run by the engine keeping the state of unchanged rules. An
    /// invalid set (e.g. naming a product this node cannot load) leaves the
    /// running rules as they are.
    async fn reload_rules(&self) -> Result<Vec<AlarmChange>, IotError> {
        let store = &self.inner.store;
        let rules: Vec<Rule> = match store.rule_set(None).await? {
            Some(r) => r.rules.rules,
            None => store
                .enabled_packs()
                .await?
                .into_iter()
                .flat_map(|p| p.rules)
                .collect(),
        };
        self.check_rules(&rules)?;
        Ok(self.run_rules(rules))
    }

    /// Products, the catalogue's local classes, the enabled packs' alarm
    /// mappings and the rules.
    async fn reload_packs(&self) -> Result<Vec<AlarmChange>, IotError> {
        self.reload_products(&[], true).await?;
        let store = &self.inner.store;
        let packs = store.enabled_packs().await?;
        let (catalogue, mappings) = super::catalogue_and_mappings(store, &packs).await?;
        match self.inner.catalogue.write() {
            Ok(mut g) => *g = catalogue,
            Err(p) => *p.into_inner() = catalogue,
        }
        match self.inner.mappings.write() {
            Ok(mut g) => *g = mappings,
            Err(p) => *p.into_inner() = mappings,
        }
        self.reload_rules().await
    }

    /// Another node acknowledged or cleared `alarm_id` (`announced`): if
    /// this engine holds it, the engine follows the stored state (or the
    /// announced one, if an update of this node was stored over it, which
    /// is then written back).
    async fn follow_alarm(&self, alarm_id: &str, announced: AlarmState) -> Result<bool, IotError> {
        let Some(held) = self.held_alarm(alarm_id) else {
            return Ok(false);
        };
        let Some(stored) = self.inner.store.alarm(alarm_id).await? else {
            return Ok(false);
        };
        let target = if progress(stored.alarm.state) >= progress(announced) {
            stored.alarm.state
        } else {
            announced
        };
        let now = self.now();
        let applied = {
            let mut engine = self.engine();
            // The engine may have moved on while the store answered.
            if engine.alarm(&held.key).is_none_or(|a| a.id != alarm_id) {
                return Ok(false);
            }
            match target {
                AlarmState::Active => None,
                AlarmState::Acknowledged => engine.acknowledge(
                    &held.key,
                    stored
                        .alarm
                        .acknowledged_by
                        .as_deref()
                        .unwrap_or(SOMEONE_ELSEWHERE),
                    now,
                ),
                AlarmState::Cleared => engine.clear(
                    &held.key,
                    stored
                        .alarm
                        .clear_reason
                        .clone()
                        .unwrap_or_else(|| ClearReason::Person {
                            user: SOMEONE_ELSEWHERE.into(),
                        }),
                    now,
                ),
            }
        };
        let Some(applied) = applied else {
            return Ok(false);
        };
        if progress(stored.alarm.state) < progress(target) {
            tracing::warn!(alarm = %alarm_id, "this node's update was stored over another node's alarm action; writing the action back");
            self.inner
                .store
                .upsert_alarms(&[(applied.alarm, stored.owner_department)])
                .await?;
        }
        tracing::debug!(alarm = %alarm_id, state = ?target, "the engine followed an alarm action of another node");
        Ok(true)
    }
}
