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
