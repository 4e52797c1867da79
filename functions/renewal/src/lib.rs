//! The `renewal` component: a `[[trigger.cron]]` component exporting the
//! `fermyon:spin-cron@2.0.0` world (wit/cron.wit). Each tick runs the renewal and notification
//! jobs with the Spin adapters. On SpinKube, whose shim runs no cron triggers, a Kubernetes
//! CronJob calls `/internal/jobs/*` instead; both reach the same `spincat::jobs` functions.

#[cfg(target_arch = "wasm32")]
mod cron {
    spin_sdk::wit_bindgen::generate!({
        world: "spin-cron",
        path: "wit",
        runtime_path: "spin_sdk::wit_bindgen::rt",
    });

    struct Renewal;

    impl Guest for Renewal {
        fn handle_cron_event(_metadata: Metadata) -> Result<(), Error> {
            spincat::logging::init();
            let ports = spincat::spin::ports();
            spin_sdk::http::run(async move {
                let now = ports.clock.now();
                spincat::jobs::renewals(&ports, now).await?;
                spincat::jobs::notifications(&ports, now).await
            })
            .map(drop)
            .map_err(|e| Error::Other(format!("{}: {}", e.code, e.message)))
        }
    }

    export!(Renewal);
}
