//! The cron-trigger component: it exports the `fermyon:spin-cron@2.0.0` world (wit/cron.wit)
//! and, on every tick, runs `spincat::jobs::tick` (the jobs its `cron_jobs` variable names) with
//! the Spin adapters. spin.toml instantiates it twice: `renewal` (renewals and notifications,
//! daily) and `reconcile` (every minute). On SpinKube, whose shim runs no cron triggers, a
//! Kubernetes CronJob calls `/internal/jobs/*` instead; both reach the same jobs.

#[cfg(target_arch = "wasm32")]
mod cron {
    spin_sdk::wit_bindgen::generate!({
        world: "spin-cron",
        path: "wit",
        runtime_path: "spin_sdk::wit_bindgen::rt",
    });

    struct Scheduled;

    impl Guest for Scheduled {
        fn handle_cron_event(_metadata: Metadata) -> Result<(), Error> {
            spincat::logging::init();
            let ports = spincat::spin::ports();
            spin_sdk::http::run(async move { spincat::jobs::tick(&ports).await })
                .map_err(|e| Error::Other(e.to_string()))
        }
    }

    export!(Scheduled);
}
