import type { Db } from '../db/client';
import type { Principal } from '../tenancy/principal';

export type AppEnv = {
  Bindings: Env;
  Variables: {
    requestId: string;
    principal: Principal;
    db: Db;
  };
};
