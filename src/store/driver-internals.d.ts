// The one cassandra-driver internal ecom touches (see driver-patch.ts); the package ships no types for it.
declare module "cassandra-driver/lib/control-connection.js" {
  const ControlConnection: { prototype: { _refresh(hostIterator?: unknown): Promise<void> } };
  export default ControlConnection;
}
