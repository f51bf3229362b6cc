//! The command line: subcommands and their flags.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "chengyun",
    version,
    about = "城运 chengyun — unified city operations platform (一网统管)"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
pub struct Global {
    /// TOML configuration file.
    #[arg(long, global = true, env = "CHENGYUN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for the embedded database and files [default: ./chengyun-data].
    #[arg(long, global = true, env = "CHENGYUN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `postgres://user@host/db` to use PostgreSQL instead of the embedded SQLite database.
    #[arg(long, global = true, env = "CHENGYUN_DATABASE_URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (HTTP API, web, live feeds).
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long, env = "CHENGYUN_LISTEN")]
        listen: Option<SocketAddr>,
    },
    /// Run a generated demo city (演示市) on the embedded database: districts,
    /// streets, communities, unit grids, departments, one user per role.
    Demo {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long, env = "CHENGYUN_LISTEN")]
        listen: Option<SocketAddr>,
        /// Seed of the generated city (same seed, same city).
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Number of components to scatter.
        #[arg(long, default_value_t = 10_000)]
        components: usize,
        /// Throw away an earlier demo database and generate anew.
        #[arg(long)]
        fresh: bool,
        /// Do not run the city simulator inside the demo.
        #[arg(long)]
        no_sim: bool,
        #[command(flatten)]
        sim: SimArgs,
    },
    /// Run the city simulator (devices over their real protocols, people through the
    /// REST API) against a running chengyun.
    Sim {
        /// `http://host:port` of the chengyun server.
        #[arg(long, env = "CHENGYUN_SIM_TARGET")]
        target: String,
        /// Login of the admin who creates the simulator's staff users.
        #[arg(long, default_value = "admin")]
        admin_user: String,
        /// The admin's password.
        #[arg(
            long,
            env = "CHENGYUN_SIM_ADMIN_PASSWORD",
            default_value = "chengyun-demo"
        )]
        admin_password: String,
        /// The server's JT/T 808 gateway (host:port) [default: as the server answers at
        /// GET /api/v1/iot/gateways].
        #[arg(long)]
        jt808: Option<SocketAddr>,
        /// The server's watch gateway (host:port) [default: as the server answers].
        #[arg(long)]
        watch: Option<SocketAddr>,
        /// The MQTT broker the server reads (host:port) [default: as the server answers].
        #[arg(long)]
        mqtt: Option<SocketAddr>,
        /// The server's HTTP telemetry URL (…/ingest/http/v1/telemetry).
        #[arg(long)]
        http_telemetry: Option<String>,
        /// The server's GB/T 28181 Notify URL (…/ingest/gb28181/notify).
        #[arg(long)]
        gb28181: Option<String>,
        #[command(flatten)]
        sim: SimArgs,
    },
    /// End-to-end benchmarks against a server started for the run.
    Bench {
        /// telemetry, intake, queries, connections, screen, or all (all but screen).
        scenario: String,
        /// sqlite or postgres (PostgreSQL from --database-url or CHENGYUN_BENCH_PG).
        #[arg(long, default_value = "sqlite")]
        backend: String,
        /// inprocess or nats.
        #[arg(long, default_value = "inprocess")]
        bus: String,
        /// Small sizes, for a smoke run.
        #[arg(long)]
        quick: bool,
        /// Cases for the queries scenario [default: 1,000,000; 20,000 with --quick] and the
        /// screen scenario [default: 100,000; 500 with --quick].
        #[arg(long)]
        cases: Option<usize>,
        /// Devices for the screen scenario [default: 10,000; 100 with --quick].
        #[arg(long)]
        devices: Option<usize>,
        /// Messages for the telemetry scenario [default: 200,000; 5,000 with --quick].
        #[arg(long)]
        messages: Option<usize>,
        /// Connections for the connections scenario [default: 5,000; 200 with --quick].
        #[arg(long)]
        connections: Option<usize>,
        /// Cases per second offered in the intake scenario [default: 50; 20 with --quick].
        #[arg(long)]
        rate: Option<f64>,
        /// Seconds the intake scenario runs [default: 30; 3 with --quick].
        #[arg(long)]
        seconds: Option<f64>,
        /// The Mosquitto of the telemetry baseline.
        #[arg(long, default_value = "127.0.0.1:1883")]
        mosquitto: String,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Load the city model or components from files (all or nothing).
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Unit grids (单元网格).
    Grid {
        #[command(subcommand)]
        what: GridWhat,
    },
    /// User accounts and API tokens.
    User {
        #[command(subcommand)]
        what: UserWhat,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportWhat {
    /// Administrative areas: GeoJSON (FeatureCollection or DataV feature array) with
    /// boundaries, or a CSV code list (code,name[,parent_code]) without.
    Areas {
        file: PathBuf,
        /// Coordinate system of the file: wgs84, gcj02 (AMap/DataV) or bd09 (Baidu).
        #[arg(long, default_value = "wgs84")]
        crs: String,
    },
    /// Unit grid polygons (GeoJSON), with `code`/`BGID` and optional `area_code`.
    Grids {
        file: PathBuf,
        #[arg(long, default_value = "wgs84")]
        crs: String,
    },
    /// Responsibility grids (责任网格): GeoJSON polygons with code, name,
    /// department_code, staff_code.
    ResponsibilityGrids {
        file: PathBuf,
        #[arg(long, default_value = "wgs84")]
        crs: String,
    },
    /// Departments (CSV: code,name,kind,tier,area_code,parent_code).
    Departments { file: PathBuf },
    /// Staff (CSV: code,name,department_code,position,phone,username).
    Staff { file: PathBuf },
    /// Historical cases (CSV, or JSON lines for `--layout chengyun` with a
    /// `.jsonl` file) with the time of every stage, stored all or nothing so
    /// past years are evaluated like live cases. Rows breaking a rule are not
    /// imported and are listed with their line; cases already imported are skipped.
    Cases {
        file: PathBuf,
        /// la311-2018, la311-2020, nyc311 or chengyun.
        #[arg(long)]
        layout: String,
        /// Matter code for categories the layout does not map (else those rows are rejected).
        #[arg(long)]
        fallback_matter: Option<String>,
        /// CSV `agency,department_code`: the source's agencies → stored departments
        /// (unmapped agencies go to the fallback center).
        #[arg(long)]
        department_map: Option<PathBuf>,
        /// The command center managing the imported cases [default: the city center].
        #[arg(long)]
        center: Option<String>,
        /// Natural days to close a case that has no due date of its own.
        #[arg(long, default_value_t = 10)]
        days: u32,
    },
    /// Components (部件): CSV or GeoJSON points; legacy OBJID/BGID/… fields accepted.
    Components {
        file: PathBuf,
        #[arg(long, default_value = "wgs84")]
        crs: String,
        /// csv or geojson [default: from the file name].
        #[arg(long)]
        format: Option<String>,
    },
}

/// Rates and sizes of the simulator.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Device messages per second, all devices together.
    #[arg(long = "sim-rate", default_value_t = 500.0)]
    pub rate: f64,
    /// Cases reported per minute by citizens and inspectors.
    #[arg(long = "sim-cases-per-min", default_value_t = 10.0)]
    pub cases_per_min: f64,
    /// Devices per scene, e.g. `ebike=2000,elderly=500` (scenes: ebike, elderly,
    /// corrections, railway, weigh, kitchen, fire, components) [default: the demo fleet].
    #[arg(long = "sim-fleet")]
    pub fleet: Option<String>,
    /// Mean seconds a member of staff takes per step.
    #[arg(long = "sim-handler-speed", default_value_t = 6.0)]
    pub handler_speed: f64,
    /// Share of cases handled late (10× slower), returned once, and reworked once.
    #[arg(long = "sim-late-share", default_value_t = 0.1)]
    pub late_share: f64,
    #[arg(long = "sim-return-share", default_value_t = 0.08)]
    pub return_share: f64,
    #[arg(long = "sim-rework-share", default_value_t = 0.1)]
    pub rework_share: f64,
    /// Probability that a device report starts an episode (theft, SOS, intrusion …).
    #[arg(long = "sim-episodes", default_value_t = 0.002)]
    pub episodes: f64,
    /// Seed of the simulation (same seed, same messages and reports).
    #[arg(id = "sim_seed", long = "sim-seed", default_value_t = 2026)]
    pub seed: u64,
    /// Stop after this many seconds [default: run until Ctrl-C].
    #[arg(long = "sim-duration")]
    pub duration: Option<f64>,
    /// Department code that owns the simulated devices on a server that lacks the demo
    /// city's departments (DEMO-GA, DEMO-XF …).
    #[arg(long = "sim-owner")]
    pub owner: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum GridWhat {
    /// Cut an area into square unit grids clipped to its boundary, coded per
    /// street/community, replacing the grids already stored inside it.
    Generate {
        /// Division code of the area to cut (a district, a street …).
        #[arg(long)]
        area: String,
        /// Cell size, e.g. 100m, 250m, 1km.
        #[arg(long, default_value = "100m")]
        cell: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserWhat {
    /// Create a user. The password is read from stdin with --password-stdin, or
    /// generated and printed once.
    Create {
        username: String,
        /// Role (position); repeat for several: clerk, shift_leader, dispatcher,
        /// inspector, handler, leader, admin (Chinese names work too).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Department code the user belongs to.
        #[arg(long)]
        department: Option<String>,
        /// Display name [default: the username].
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (read from stdin with --password-stdin, else generated).
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Disable a user (ends their sessions; their tokens stop working).
    Disable { username: String },
    /// Enable a disabled user.
    Enable { username: String },
    /// Issue an API token for a user; printed once.
    Token {
        username: String,
        /// What the token is for, e.g. "12345 hotline bridge".
        #[arg(long)]
        name: String,
        /// Days until it expires; none for no expiry.
        #[arg(long)]
        days: Option<u32>,
    },
}
