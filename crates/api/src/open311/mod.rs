//! Open311 GeoReport v2 (`/open311/v2/`): the resources and their JSON and
//! XML forms ([`format`]). The routes that serve them live with the other
//! handlers and call into this module.

pub mod format;
pub mod routes;

pub use format::{
    Attribute, AttributeAnswer, AttributeValue, Datatype, Discovery, Endpoint, ErrorItem, Errors,
    Format, PostRequest, PostResponse, PostResponses, RequestLocation, RequestsFilter, Resource,
    Service, ServiceDefinition, ServiceList, ServiceRequest, ServiceRequests, ServiceType, Status,
    TokenResponse, TokenResponses, render,
};
