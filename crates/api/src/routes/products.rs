//! Products (thing models): what every device of a product reports, raises
//! and accepts. Readable by everyone who reads the city (the web's forms
//! need them); written by administrators.

use crate::error::{ApiError, ApiResult};
use crate::extract::{CurrentUser, Json, Path};
use crate::state::AppState;
use axum::extract::State;
use chengyun_domain::Invalid;
use chengyun_domain::auth::Permission;
use chengyun_domain::iot::Product;

/// Every product, by key.
#[utoipa::path(get, path = "/api/v1/products", tag = "iot",
    responses((status = 200, description = "Products", body = [Product])),
    security(("session" = []), ("token" = [])))]
pub async fn list(State(state): State<AppState>, me: CurrentUser) -> ApiResult<Json<Vec<Product>>> {
    me.require(Permission::ReadCity)?;
    Ok(Json(state.store().products().await?))
}

/// One product.
#[utoipa::path(get, path = "/api/v1/products/{key}", tag = "iot",
    params(("key" = String, Path, description = "Product key")),
    responses((status = 200, description = "The product", body = Product)),
    security(("session" = []), ("token" = [])))]
pub async fn get(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(key): Path<String>,
) -> ApiResult<Json<Product>> {
    me.require(Permission::ReadCity)?;
    match state.iot().product(&key) {
        Some(p) => Ok(Json((*p).clone())),
        None => Err(ApiError::not_found(format!("product {key}"))),
    }
}

/// Adds or replaces a product (admin); validated (every problem listed).
#[utoipa::path(put, path = "/api/v1/products/{key}", tag = "iot",
    params(("key" = String, Path, description = "Product key; must equal the body's key")),
    request_body = Product,
    responses((status = 200, description = "The product as stored", body = Product)),
    security(("session" = []), ("token" = [])))]
pub async fn put(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(key): Path<String>,
    Json(product): Json<Product>,
) -> ApiResult<Json<Product>> {
    me.require(Permission::ManageCity)?;
    if product.key != key {
        return Err(Invalid::new(
            "key",
            format!(
                "the body's key {:?} differs from the path's {key:?}",
                product.key
            ),
        )
        .into());
    }
    product.validate()?;
    state.iot().put_product(product.clone(), &me.actor).await?;
    Ok(Json(product))
}
